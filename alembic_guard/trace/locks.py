"""Read the locks the migration backend holds, from a second connection.

``pg_locks`` shows every lock of every backend, so a side connection sees what the migration holds
right now ("pg_locks" in the PostgreSQL docs, System Views). Names are resolved by the caller on the
migration connection, because relations created in its open transaction are invisible here.
"""

from __future__ import annotations

import contextlib

import psycopg

from collections.abc import Iterable

from ..locks import PG_LOCKS_NAMES

LOCKS_SQL = """
select relation::bigint, mode from pg_catalog.pg_locks
where pid = %s and locktype = 'relation' and granted and database = (
    select oid from pg_catalog.pg_database where datname = current_database())
"""


# The same locks, one row per mode with the relations' OIDs in an array: a big revision holds
# thousands of locks, and one array per mode costs less to send and to read than a row per lock.
HELD_SQL = f"""
select mode, array_agg(relation) from ({LOCKS_SQL}) held group by mode
"""


def pairs(by_mode: dict[str, set[int]]) -> set[tuple[int, str]]:
    """``{mode: {oid}}`` as a set of ``(oid, mode)`` pairs."""
    return {(oid, mode) for mode, oids in by_mode.items() for oid in oids}


def by_mode(pairs_: Iterable[tuple[int, str]]) -> dict[str, set[int]]:
    """``(oid, mode)`` pairs as ``{mode: {oid}}``."""
    out: dict[str, set[int]] = {}
    for oid, mode in pairs_:
        out.setdefault(mode, set()).add(oid)
    return out


class LockReader:
    """A side connection reading ``pg_locks``; ~1-2 ms a call on a small transaction, ~2-3 µs per
    lock of the whole server beyond that (the server builds every row of ``pg_locks`` first)."""

    def __init__(self, conninfo: str):
        self._conn = psycopg.connect(conninfo, autocommit=True)
        self._sent: tuple[int, contextlib.ExitStack, psycopg.Cursor] | None = None

    def send(self, pid: int) -> None:
        """Ask for ``pid``'s locks now without waiting for the answer (psycopg pipeline mode): the
        server builds it while the caller reads the catalog on the migration connection; the next
        ``relation_locks(pid)`` returns it. ``discard()`` drops an answer nobody asked for."""
        self.discard()
        stack = contextlib.ExitStack()
        try:
            stack.enter_context(self._conn.pipeline())
            cur = self._conn.cursor(binary=True)
            cur.execute(HELD_SQL, (pid,))
            # libpq keeps pipelined messages in its buffer: ask the server to answer now, and flush
            self._conn.pgconn.send_flush_request()
            self._conn.pgconn.flush()
        except psycopg.NotSupportedError:  # libpq older than 14: read it when asked
            stack.close()
            return
        except BaseException:  # e.g. the connection is lost: leave no pipeline open behind the error
            with contextlib.suppress(psycopg.Error):
                stack.close()
            raise
        self._sent = (pid, stack, cur)

    def discard(self) -> None:
        sent, self._sent = self._sent, None
        if sent is not None:
            with contextlib.suppress(psycopg.Error):
                sent[1].close()

    def relation_locks(self, pid: int) -> set[tuple[int, str]]:
        """Every granted ``(relation OID, mode)`` held by ``pid`` (docs mode names). A backend can
        hold several modes on one relation, e.g. ACCESS EXCLUSIVE from one revision and SHARE from a
        later one in the same transaction. The answer to ``send(pid)`` when one is pending."""
        return pairs(self.held_by_mode(pid))

    def held_by_mode(self, pid: int) -> dict[str, set[int]]:
        """The same locks as :meth:`relation_locks`, as ``{docs mode name: {relation OID}}``: sets of
        ints, which a big revision's thousands of locks build and compare several times faster than
        sets of pairs. The answer to ``send(pid)`` when one is pending."""
        sent, self._sent = self._sent, None
        if sent is not None and sent[0] == pid:
            try:
                rows = sent[2].fetchall()
            finally:
                sent[1].close()
        else:
            if sent is not None:
                sent[1].close()
            # binary results: no text parsing of thousands of OIDs in a big revision
            rows = self._conn.cursor(binary=True).execute(HELD_SQL, (pid,)).fetchall()
        # the OIDs come as ints already (relation::bigint); one row per mode, so one name per row
        return {PG_LOCKS_NAMES.get(mode, mode): set(oids) for mode, oids in rows}

    def close(self) -> None:
        self.discard()
        self._conn.close()
