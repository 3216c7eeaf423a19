"""Catalog snapshots that cost what changed, not the whole catalog (issue 13: linear tracing cost).

``Snapshots.snapshot(dbapi)`` returns the same ``{oid: Relation}`` as ``catalog.snapshot`` (every
user relation, its file, this transaction's seq scans and rows updated/deleted), but inside one
transaction it reads only the ``pg_class`` rows written since the previous snapshot of the same
connection, and the statistics only when they moved:

- a row version this transaction wrote since then has ``xmin`` = the transaction's xid and a ``cmin``
  (command id, "System Columns" in the PostgreSQL docs) above the largest one seen at the previous
  snapshot: command ids only grow within a transaction;
- a row another transaction wrote (committed since; e.g. a raw DBAPI connection of the project, or
  a subtransaction of this one) has an ``xmin`` at or after the oldest transaction still running at
  the previous snapshot (``txid_snapshot_xmin``), compared modulo 2^32 as xids are;
- ``pg_stat_get_xact_numscans`` / ``_tuples_updated`` / ``_tuples_deleted`` (what
  ``pg_stat_xact_user_tables`` shows) are compared by a signature: each table's counts weighted by a
  pseudo-random factor of its OID, summed. Plain sums are not enough: the counts mostly grow within a
  transaction, but a TRUNCATE of a table created (or rewritten) in it works in place and resets that
  table's counters to 0, so two tables' counts can move while their sum stays. When the signature
  moved, the tables with non-zero counts are re-read and every other one is set to 0.

The trace is the ground truth, so each incremental snapshot is verified against the server: the
number of relations and the sum of a 64-bit hash (``hash_record_extended``) of every row's fields must
match what the cached rows give, else (a drop, a schema rename, anything unforeseen) the full
snapshot is taken. A new transaction, a connection outside a transaction block (every query its own
transaction), a catalog of fewer than ``SMALL`` relations (one full read is as cheap) or a server
older than 14 (no ``hash_record_extended``) always gets the full snapshot.
``ALEMBIC_GUARD_VERIFY_SNAPSHOTS=1`` takes the incremental path whatever the size, compares every
incremental snapshot with a full one and raises AssertionError on a difference (tests use it).

``snapshot(dbapi, quiet=True)`` is for the snapshot before a statement, usually taken right after the
one after the previous statement with nothing run in between. It first reads the *quiet value*
(``QUIET_SQL``: four server functions, no catalog pass) and, when it equals the one read with the
previous snapshot of the connection, returns that snapshot without reading the catalog at all. The
quiet value changes whenever the snapshot could have:

- another transaction's change becomes visible only when it commits, and any commit or abort of a
  transaction with an xid changes ``txid_current_snapshot()`` (its xmax or its in-progress list);
- every change of this transaction (its subtransactions' too) to a catalog row writes WAL: catalogs
  are permanent relations, logged at every ``wal_level`` ("WAL Configuration" in the PostgreSQL
  docs), so ``pg_current_wal_insert_lsn()`` moves (the insert position: records not yet flushed
  count). WAL written by anyone else (autovacuum, a checkpoint) moves it too: the usual path runs;
- ``now()`` and the xid name the transaction.

It is read in the same query as ``META_SQL`` (one MVCC snapshot: a commit after it shows in the next
value) or before ``SNAPSHOT_SQL`` in the same round trip (a commit between the two shows in the next
value too): never after the rows it vouches for.

What it cannot see: a table *scanned* between two traced statements (a raw DBAPI cursor of the
migration connection reading rows) writes no WAL and changes no catalog row. Its scan then counts for
the next traced statement, whose snapshot after it reads the statistics: reported against a
statement, never lost.

In-place catalog updates (``heap_inplace_update``: relhasindex, relpages, reltuples, relfrozenxid)
touch none of the snapshot's fields. On any difference the usual path runs.
"""

from __future__ import annotations

import dataclasses
import os
from typing import Any

from ..model import Relation
from .catalog import (ROWS_MODIFIED, SEQ_SCANS, SNAPSHOT_SQL, TABLE_KINDS, USER_RELATIONS_FROM, fetch, fetch_all,
                      relations, snapshot as full_snapshot)

# the same relations and statistics as catalog.SNAPSHOT_SQL (one definition of each)
_FROM = USER_RELATIONS_FROM
_TABLE, _SEQ, _MOD = TABLE_KINDS, SEQ_SCANS, ROWS_MODIFIED
# One 64-bit hash of the row's fields, hashed as a record (PostgreSQL 14+: hash_record_extended), not
# as one concatenated text: no text conversion of four OIDs per row (~25% cheaper at 5,000 rows).
# The seed is the row's OID: hash_record combines its fields' hashes linearly (h = 31 * h + field),
# so with one seed for all rows the sum over rows would only see each column's multiset of values,
# and two schemas swapping names would leave it unchanged; each row's own seed makes every field's
# hash depend on the row it is in.
_HASH = ("pg_catalog.hash_record_extended(row(c.oid, n.nspname, c.relname, c.relkind, c.relfilenode, i.indrelid),"
         " c.oid::bigint)")
_XID = "(pg_catalog.txid_current_if_assigned() % 4294967296)"


def _stats_signature(seq: str, mod: str) -> str:
    """A sum that moves when any one table's (seq, mod) counts move (module docstring): each table's
    counts packed into one number and weighted by a pseudo-random factor of its OID (numeric: no
    overflow). Counts that cancel across tables would need a weighted sum of zero: never by chance."""
    return (f"sum((({seq})::numeric * 4294967311 + ({mod}))"
            " * ((c.oid::bigint * 2654435761) % 4294967291 + 1))")
_ROW = ("c.oid::bigint, n.nspname, c.relname, c.relkind::text, c.relfilenode::bigint, "
        f"({_SEQ})::bigint, i.indrelid::bigint, ({_MOD})::bigint, {_HASH}")

# Rows of this transaction's own xid, exactly (not age() = 0, which counts from the xid it had at its
# first call of age()): the xid read once per query (an InitPlan), compared with xideq, no per-row
# conversion to text.
_OWN = ("coalesce({t}.xmin = (select (pg_catalog.txid_current_if_assigned() % 4294967296)::text::xid),"
        " false)")
# One value that changes whenever the snapshot could have (module docstring): no catalog pass at all.
QUIET_SQL = f"""
select concat_ws('/', pg_catalog.pg_current_wal_insert_lsn()::text, pg_catalog.txid_current_snapshot()::text,
                 (extract(epoch from now()) * 1000000)::bigint, coalesce({_XID}, -1))"""

META_SQL = f"""
select count(*), coalesce(sum({_HASH}::numeric), 0)::text, coalesce({_stats_signature(_SEQ, _MOD)}, 0)::text,
       coalesce(sum({_MOD}), 0)::bigint, (extract(epoch from now()) * 1000000)::bigint,
       coalesce({_XID}, -1), pg_catalog.txid_snapshot_xmin(pg_catalog.txid_current_snapshot()) % 4294967296,
       coalesce(max(case when {_OWN.format(t='c')} then c.cmin::text::bigint end), -1),
       ({QUIET_SQL})
{_FROM}"""

ROWS_SQL = f"select {_ROW} {_FROM}"

# Rows this transaction's xid wrote since (cmin above the previous snapshot's), and rows of other
# xids at or after the previous snapshot's horizon (xids compared circularly: both ages count from
# the same xid). No xid-to-text conversion per row.
CHANGED_SQL = ROWS_SQL + f"""
  and (({_OWN.format(t='c')} and c.cmin::text::bigint > {{cmin}})
       or (not {_OWN.format(t='c')} and pg_catalog.age(c.xmin) <= pg_catalog.age('{{horizon}}'::xid)))
"""

STATS_SQL = f"""
select c.oid::bigint, ({_SEQ})::bigint, ({_MOD})::bigint {_FROM}
  and {_TABLE} and ({_SEQ}) + ({_MOD}) > 0
"""


# Below this many relations the full snapshot is read (one query, as cheap as the incremental check).
SMALL = 300


@dataclasses.dataclass
class _State:
    """What the previous snapshot of one connection saw."""

    xact: int  # now() of its transaction, µs
    xid: int  # the transaction's xid modulo 2^32, -1 when none assigned yet
    horizon: int  # oldest running xid then, modulo 2^32
    cmin: int  # largest cmin of a pg_class row this transaction wrote, -1 when none
    rels: dict[int, Relation]
    hashes: dict[int, int]
    stats: int  # the statistics' signature (_stats_signature)
    mod: int
    counted: set[int]  # OIDs of the relations with non-zero counts (the ones that can fall to 0)


class Snapshots:
    """Per DBAPI connection, the last snapshot and what the next one needs to read. ``reset()``
    forgets them (a new ``alembic upgrade`` attempt)."""

    def __init__(self, server_version_num: int = 0):
        self._incremental = server_version_num == 0 or server_version_num >= 140000
        self._state: dict[int, _State] = {}
        self._small: dict[int, bool] = {}  # per connection: its last snapshot had fewer than SMALL relations
        # per connection: (QUIET_SQL's value, the snapshot it vouches for) of the last snapshot read
        self._quiet: dict[int, tuple[str, dict[int, Relation]]] = {}
        # per connection: (the snapshot returned before the last one, the last one, what changed between)
        self._returned: dict[int, tuple[dict[int, Relation] | None, dict[int, Relation], list[int] | None]] = {}
        self._verify = os.environ.get("ALEMBIC_GUARD_VERIFY_SNAPSHOTS") == "1"
        self._threshold = 0 if self._verify else SMALL  # verifying: the incremental path from the start
        self.full = self.partial = 0  # snapshots taken each way (benchmarks, tests)
        self.reused = 0  # quiet snapshots answered by the quiet value alone
        self.also_results: list[list[tuple]] = []  # rows of each of the last snapshot's ``also`` queries

    def reset(self) -> None:
        self._state = {}
        self._small = {}
        self._quiet = {}
        self._returned = {}

    def changed(self, dbapi_conn: Any, before: dict[int, Relation], after: dict[int, Relation]) -> list[int] | None:
        """The OIDs whose Relation differs between ``before`` and ``after`` (created ones included),
        when those are the last two snapshots this object returned for the connection and the later
        one was read incrementally; else None (compare them whole). Created OIDs come last, in the
        order of ``after``; the others by OID."""
        last = self._returned.get(id(dbapi_conn))
        if last is None or last[0] is not before or last[1] is not after:
            return None
        return last[2]

    def _returning(self, key: int, rels: dict[int, Relation], changed: list[int] | None) -> dict[int, Relation]:
        last = self._returned.get(key)
        self._returned[key] = (last[1] if last else None, rels, changed)
        return rels

    def snapshot(self, dbapi_conn: Any, quiet: bool = False,
                 also: list[str | tuple[str, tuple]] | None = None) -> dict[int, Relation]:
        """``{oid: Relation}`` of every user relation, as ``catalog.snapshot`` returns it (a new dict;
        unchanged relations are the same Relation objects as in the previous one). ``quiet``: the
        caller expects no change since the previous snapshot of the connection (the one before a
        statement): check that first with the quiet value alone (module docstring). ``also``: queries sent in the same
        round trip as the first one (``catalog.fetch_all``); their rows are left in ``also_results``,
        one list per query, in order.
        Raises what the driver raises (e.g. in a failed transaction)."""
        key = id(dbapi_conn)
        prev = self._state.get(key)
        extra = list(also or [])
        self.also_results = []

        def first(sqls: list[str]) -> list[list[tuple]]:
            nonlocal extra
            results = fetch_all(dbapi_conn, sqls + extra)
            if extra:
                self.also_results, results, extra = results[-len(extra):], results[:-len(extra)], []
            return results

        last = self._quiet.get(key)
        if quiet and last is not None and not getattr(dbapi_conn, "autocommit", False):
            # (in autocommit every query is a transaction of its own: the value always differs)
            (quiet_rows,) = first([QUIET_SQL])
            if str(quiet_rows[0][0]) == last[0]:
                self.reused += 1
                if self._verify:
                    self._check(dbapi_conn, last[1], statistics=False)
                return self._returning(key, dict(last[1]), [])
        if not self._incremental or self._small.get(key, True):
            # A small catalog costs less in one full read than in the two queries of the incremental
            # path: read it whole until it grows (the incremental path starts at the next snapshot).
            # The quiet value first, in the same round trip: never after the rows it vouches for.
            quiet_rows, rows = first([QUIET_SQL, SNAPSHOT_SQL])
            rels = relations(rows)
            self._small[key] = len(rels) < self._threshold
            self._state.pop(key, None)
            self._quiet[key] = (str(quiet_rows[0][0]), rels)
            self.full += 1
            return self._returning(key, rels, None)
        # The rows changed since ``prev`` are asked for in the same round trip as the check: they
        # depend on ``prev`` only (its cmin counts while it had an xid: a transaction keeps its xid),
        # and are thrown away below if the transaction is not ``prev``'s.
        changed_sql = None if prev is None else CHANGED_SQL.format(
            cmin=int(prev.cmin) if prev.xid != -1 else -1, horizon=int(prev.horizon))
        results = first([META_SQL] + ([changed_sql] if changed_sql else []))
        count, hash_sum, stats, mod, xact, xid, horizon, cmin, quiet_value = results[0][0]
        count, hash_sum, stats, mod, xact, xid, horizon, cmin = (int(count), int(hash_sum), int(stats), int(mod),
                                                               int(xact), int(xid), int(horizon), int(cmin))
        rels = hashes = None
        changed: list[int] | None = None
        counted: set[int] = set()
        if prev is not None and prev.xact == xact:
            rels, hashes, changed, counted = self._apply_changes(dbapi_conn, prev, results[1], stats, mod)
            if len(rels) != count or sum(hashes.values()) != hash_sum:
                rels = hashes = changed = None  # a drop, a schema rename, or anything unforeseen: read it all
        if rels is None or hashes is None:
            rels, hashes = {}, {}
            for row in fetch(dbapi_conn, ROWS_SQL):
                rel = _relation(row)
                rels[rel.oid], hashes[rel.oid] = rel, int(row[8])
            counted = {oid for oid, rel in rels.items() if rel.seq_scan or rel.n_mod}
            self.full += 1
        else:
            self.partial += 1
            if self._verify:
                self._check(dbapi_conn, rels)
        self._state[key] = _State(xact, xid, horizon, cmin, rels, hashes, stats, mod, counted)
        self._quiet[key] = (str(quiet_value), rels)
        return self._returning(key, dict(rels), changed)

    def _apply_changes(self, dbapi_conn: Any, prev: _State, changed_rows: list[tuple], stats: int,
                       mod: int) -> tuple[dict[int, Relation], dict[int, int], list[int], set[int]]:
        rels, hashes = dict(prev.rels), dict(prev.hashes)
        changed: set[int] = set()
        created: list[int] = []
        for row in changed_rows:
            rel = _relation(row)
            old = rels.get(rel.oid)
            if old is None:
                created.append(rel.oid)
            elif old != rel:
                changed.add(rel.oid)
            rels[rel.oid] = old if old == rel else rel
            hashes[rel.oid] = int(row[8])
        rows_counted = {int(row[0]) for row in changed_rows if row[5] or row[7]}
        counted = prev.counted | rows_counted
        if (stats, mod) != (prev.stats, prev.mod):
            # STATS_SQL returns the tables with non-zero counts; every other table's are 0 now, even
            # one that had counts before (an in-place TRUNCATE resets them): only those that had
            # counts (``counted``) can have fallen to 0, so the pass is O(counted), not O(relations).
            counts = {int(oid): (int(s), int(m)) for oid, s, m in fetch(dbapi_conn, STATS_SQL)}
            for oid in counts.keys() | counted:
                rel = rels.get(oid)
                s, m = counts.get(oid, (0, 0))
                if rel is not None and (rel.seq_scan, rel.n_mod) != (s, m):
                    rels[oid] = dataclasses.replace(rel, seq_scan=s, n_mod=m)
                    if oid in prev.rels:
                        changed.add(oid)
            counted = set(counts)
        return rels, hashes, sorted(changed) + [oid for oid in created if oid in rels], counted

    @staticmethod
    def _check(dbapi_conn: Any, rels: dict[int, Relation], statistics: bool = True) -> None:
        full = full_snapshot(dbapi_conn)
        if not statistics:  # the quiet value does not see scans (module docstring): compare the rest
            rels = {oid: dataclasses.replace(r, seq_scan=0, n_mod=0) for oid, r in rels.items()}
            full = {oid: dataclasses.replace(r, seq_scan=0, n_mod=0) for oid, r in full.items()}
        if full != rels:
            diff = {o: (rels.get(o), full.get(o)) for o in set(full) | set(rels) if rels.get(o) != full.get(o)}
            raise AssertionError(f"incremental catalog snapshot differs from the full one: {diff}")


def _relation(row: tuple) -> Relation:
    oid, schema, name, kind, filenode, seq_scan, table_oid, n_mod = row[:8]
    return Relation(int(oid), schema, name, kind, int(filenode or 0), int(seq_scan or 0),
                    int(table_oid) if table_oid else None, n_mod=int(n_mod or 0))
