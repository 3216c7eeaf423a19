"""The one lock vocabulary: PostgreSQL's table-level lock modes, their names, their strength, what
each blocks and which conflict.

Everything here is from the PostgreSQL docs, "Explicit Locking", 13.3.1 Table-Level Locks and
Table 13.2 "Conflicting Lock Modes"
(https://www.postgresql.org/docs/current/explicit-locking.html#LOCKING-TABLES), and is pinned on a
real server by tests/test_locks.py. Modes are named as the docs name them ("ACCESS EXCLUSIVE");
``pg_locks.mode`` spells them ``AccessExclusiveLock`` (:func:`docs_name` translates).
"""

from __future__ import annotations

from collections.abc import Iterable

# pg_locks.mode → the docs name, weakest to strongest.
PG_LOCKS_NAMES = {
    "AccessShareLock": "ACCESS SHARE",
    "RowShareLock": "ROW SHARE",
    "RowExclusiveLock": "ROW EXCLUSIVE",
    "ShareUpdateExclusiveLock": "SHARE UPDATE EXCLUSIVE",
    "ShareLock": "SHARE",
    "ShareRowExclusiveLock": "SHARE ROW EXCLUSIVE",
    "ExclusiveLock": "EXCLUSIVE",
    "AccessExclusiveLock": "ACCESS EXCLUSIVE",
}
MODES = tuple(PG_LOCKS_NAMES.values())  # weakest first
LOCK_STRENGTH = {mode: i for i, mode in enumerate(MODES)}

# PostgreSQL's LOCKMODE numbers (src/include/storage/lockdefs.h), which pglast's ``LockStmt.mode``
# carries; LOCK TABLE without IN … MODE takes ACCESS EXCLUSIVE (8).
BY_NUMBER = {i + 1: mode for i, mode in enumerate(MODES)}

# What ordinary application traffic each mode blocks (docs: which statements take which mode).
BLOCKS = {
    "ACCESS SHARE": "nothing but ACCESS EXCLUSIVE",
    "ROW SHARE": "EXCLUSIVE and ACCESS EXCLUSIVE only",
    "ROW EXCLUSIVE": "SHARE and stronger (DDL)",
    "SHARE UPDATE EXCLUSIVE": "other DDL and VACUUM only; reads and writes continue",
    "SHARE": "INSERT, UPDATE and DELETE; reads continue",
    "SHARE ROW EXCLUSIVE": "INSERT, UPDATE, DELETE and most DDL; reads continue",
    "EXCLUSIVE": "everything except plain SELECT",
    "ACCESS EXCLUSIVE": "everything, SELECT included",
}

# Table 13.2: the modes each mode conflicts with (the relation is symmetric).
CONFLICTS: dict[str, frozenset[str]] = {
    mode: frozenset(MODES[i] for i in idx) for mode, idx in {
        "ACCESS SHARE": (7,),
        "ROW SHARE": (6, 7),
        "ROW EXCLUSIVE": (4, 5, 6, 7),
        "SHARE UPDATE EXCLUSIVE": (3, 4, 5, 6, 7),
        "SHARE": (2, 3, 5, 6, 7),
        "SHARE ROW EXCLUSIVE": (2, 3, 4, 5, 6, 7),
        "EXCLUSIVE": (1, 2, 3, 4, 5, 6, 7),
        "ACCESS EXCLUSIVE": (0, 1, 2, 3, 4, 5, 6, 7),
    }.items()}

# The modes that block ordinary writes: those that conflict with ROW EXCLUSIVE, which INSERT, UPDATE
# and DELETE take, i.e. SHARE and stronger. On a live table, these are the dangerous ones.
WRITE_BLOCKING = frozenset(m for m in MODES if "ROW EXCLUSIVE" in CONFLICTS[m])

MATVIEW = "m"  # pg_class.relkind of a materialized view
TABLE_KINDS = ("r", "p", MATVIEW)  # relations with rows: tables, partitioned tables, materialized views


def docs_name(pg_locks_mode: str) -> str:
    """``AccessExclusiveLock`` → ``ACCESS EXCLUSIVE`` (an unknown name is returned as is)."""
    return PG_LOCKS_NAMES.get(pg_locks_mode, pg_locks_mode)


def strongest(modes: Iterable[str]) -> str | None:
    """The strongest of ``modes`` (None for none)."""
    modes = list(modes)
    return max(modes, key=lambda m: LOCK_STRENGTH.get(m, 0)) if modes else None


def blocks_traffic(mode: str, relkind: str = "r") -> bool:
    """Does holding ``mode`` on a relation of kind ``relkind`` stop its ordinary traffic?

    On a table: any write-blocking mode (SHARE and stronger). On a materialized view only ACCESS
    EXCLUSIVE does: nobody writes to a matview but REFRESH (and SELECT … FOR UPDATE is refused on
    it), so a weaker mode, e.g. the EXCLUSIVE that REFRESH … CONCURRENTLY takes so that readers go
    on, blocks only REFRESH and DDL ("REFRESH MATERIALIZED VIEW" in the docs)."""
    if relkind == MATVIEW:
        return mode == "ACCESS EXCLUSIVE"
    return mode in WRITE_BLOCKING


def covered_by(mode: str, held: Iterable[str]) -> bool:
    """True when a transaction already holding ``held`` modes on a relation gets ``mode`` at once.

    Other sessions can only hold modes compatible with every mode we hold, so the request cannot wait
    when everything ``mode`` conflicts with already conflicts with some held mode."""
    held = frozenset(held)
    if mode in held:
        return True
    blocked_by_us = frozenset().union(*(CONFLICTS.get(m, frozenset()) for m in held))
    return CONFLICTS.get(mode, frozenset()) <= blocked_by_us
