"""Read the locks the migration backend holds, from a second connection.

``pg_locks`` shows every lock of every backend, so a side connection sees what the migration holds
right now ("pg_locks" in the PostgreSQL docs, System Views). Names are resolved by the caller on the
migration connection, because relations created in its open transaction are invisible here.
"""

from __future__ import annotations

import psycopg

from ..locks import PG_LOCKS_NAMES

LOCKS_SQL = """
select relation::bigint, mode from pg_catalog.pg_locks
where pid = %s and locktype = 'relation' and granted and database = (
    select oid from pg_catalog.pg_database where datname = current_database())
"""


class LockReader:
    """A side connection reading ``pg_locks``; ~1-2 ms a call."""

    def __init__(self, conninfo: str):
        self._conn = psycopg.connect(conninfo, autocommit=True)

    def relation_locks(self, pid: int) -> set[tuple[int, str]]:
        """Every granted ``(relation OID, mode)`` held by ``pid`` (docs mode names). A backend can
        hold several modes on one relation, e.g. ACCESS EXCLUSIVE from one revision and SHARE from a
        later one in the same transaction."""
        # one row per held lock, thousands in a big revision: a plain dict lookup per row (the OID
        # comes as an int already, relation::bigint), and binary results (no text parsing)
        names = PG_LOCKS_NAMES
        rows = self._conn.cursor(binary=True).execute(LOCKS_SQL, (pid,)).fetchall()
        return {(oid, names.get(mode, mode)) for oid, mode in rows}

    def close(self) -> None:
        self._conn.close()
