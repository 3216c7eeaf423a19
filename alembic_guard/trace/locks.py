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


# The same locks as one array of *codes*, ``OID * 16 + mode`` (the mode's index in PG_LOCKS_NAMES,
# weakest first; 8 for a name not in it): a big revision holds thousands of locks, and one array of
# integers, built without grouping (a sort of every lock by its mode's name) costs less to build, send
# and read than a row, or an array per mode (~40% less server time at 4,000 locks).
_PG_MODES = tuple(PG_LOCKS_NAMES)
_CODE = ("relation::bigint * 16 + case mode "
         + " ".join(f"when '{m}' then {i}" for i, m in enumerate(_PG_MODES)) + " else 8 end")
HELD_SQL = f"""
select coalesce(array_agg(code), '{{}}'), coalesce(max(code %% 16), 0)
from (select {_CODE} as code from ({LOCKS_SQL}) held) coded
"""
# a code of mode 8: the names, read as they are (never expected: PostgreSQL's eight table lock modes)
NAMED_SQL = f"select relation::bigint, mode from ({LOCKS_SQL}) held"
#: the docs' mode name of each code's mode index (``code & 15``)
MODE_OF = tuple(PG_LOCKS_NAMES.values())
#: each docs' mode name's index
MODE_INDEX = {mode: i for i, mode in enumerate(MODE_OF)}


def code(oid: int, mode: str) -> int:
    """The code of the pair (``HELD_SQL``); ``mode`` a docs' name (PG_LOCKS_NAMES' values)."""
    return oid * 16 + MODE_INDEX[mode]


def decode(codes: Iterable[int]) -> set[tuple[int, str]]:
    """Codes as ``(oid, mode)`` pairs."""
    return {(c >> 4, MODE_OF[c & 15]) for c in codes}


def codes_of(pairs_: Iterable[tuple[int, str]]) -> set[int]:
    """``(oid, mode)`` pairs as codes; a pair of a mode not among the eight raises KeyError."""
    return {code(oid, mode) for oid, mode in pairs_}


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
        codes, named = self.held(pid)
        return named if named is not None else decode(codes)

    def held(self, pid: int) -> tuple[set[int], set[tuple[int, str]] | None]:
        """The same locks as :meth:`relation_locks`, as codes (``OID * 16 + mode index``, see
        ``HELD_SQL``): one set of ints, which a big revision's thousands of locks build and compare
        several times faster than sets of pairs. And, only when a lock's mode is not one of the
        eight, every lock as pairs (else None). The answer to ``send(pid)`` when one is pending."""
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
        codes = set(rows[0][0])
        if rows[0][1] == 8:  # a mode not among the eight: read the names themselves
            named = {(int(oid), PG_LOCKS_NAMES.get(mode, mode))
                     for oid, mode in self._conn.execute(NAMED_SQL, (pid,)).fetchall()}
            return codes, named
        return codes, None

    def close(self) -> None:
        self.discard()
        self._conn.close()
