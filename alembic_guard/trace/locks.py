"""Read the locks the migration backend holds, from a second connection.

``pg_locks`` shows every lock of every backend, so a side connection sees what the migration holds
right now ("pg_locks" in the PostgreSQL docs, System Views). Names are resolved by the caller on the
migration connection, because relations created in its open transaction are invisible here.
"""

from __future__ import annotations

import psycopg

from ..model import LOCK_MODE_NAMES

LOCKS_SQL = """
select relation::bigint, mode from pg_catalog.pg_locks
where pid = %s and locktype = 'relation' and granted and database = (
    select oid from pg_catalog.pg_database where datname = current_database())
"""


class LockReader:
    """A side connection reading ``pg_locks``; ~1-2 ms a call."""

    def __init__(self, conninfo: str):
        self._conn = psycopg.connect(conninfo, autocommit=True)

    def relation_locks(self, pid: int) -> dict[int, str]:
        """Strongest granted lock per relation OID held by ``pid`` (docs mode names)."""
        from ..model import LOCK_STRENGTH

        held: dict[int, str] = {}
        for oid, mode in self._conn.execute(LOCKS_SQL, (pid,)).fetchall():
            name = LOCK_MODE_NAMES.get(mode, mode)
            if oid not in held or LOCK_STRENGTH.get(name, 0) > LOCK_STRENGTH.get(held[oid], 0):
                held[int(oid)] = name
        return held

    def close(self) -> None:
        self._conn.close()
