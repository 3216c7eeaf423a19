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
  ``pg_stat_xact_user_tables`` shows) are compared by a signature: each table's counts hashed
  with its OID (64-bit integer hashes), summed. Plain sums are not enough: the counts mostly grow within a
  transaction, but a TRUNCATE of a table created (or rewritten) in it works in place and resets that
  table's counters to 0, so two tables' counts can move while their sum stays. When the signature
  moved, the tables with non-zero counts are re-read and every other one is set to 0.

The trace is the ground truth, so each incremental snapshot is verified against the server, in the
same pass over ``pg_class`` that finds the changed rows (``META_SQL``, no join): the number of
relations and the sum of a 64-bit hash of every row's *version* (its OID, ``ctid`` and ``xmin``) must
match what the cached rows give, and the schemas' versions (``pg_namespace``) must be those of the
previous snapshot, else (a drop, a schema rename, a rolled-back subtransaction bringing an older row
version back, anything unforeseen) the full snapshot is taken. A row version is never rewritten in
place in a field the snapshot reads, so the same version is the same row; the hash needs none of the
row's fields, and the changed rows' fields are computed for them alone. A new transaction, a
connection outside a transaction block (every query its own transaction), a catalog of fewer than
``SMALL`` relations (one full read is as cheap) or a server older than 14 always gets the full
snapshot.
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
# The check after a statement reads pg_class alone (no join: the joins cost as much as the scan) and
# no field of a row but its OID and version: ``ctid`` (where the row version is) and ``xmin`` (which
# transaction wrote it). A row version never changes once written (an in-place update touches none
# of a snapshot's fields, module docstring), so the same (OID, ctid, xmin) is the same row: the
# cached Relation is what the server has. ``age(xmin)`` is the xmin as an int, stable within one
# transaction (it counts from the transaction's xid, or the next xid at its first call); a snapshot
# is reused only within the transaction it was read in. One 64-bit hash of the three per row
# (``hashtidextended``, PostgreSQL 13+, seeded with the OID and the xmin: no two live row versions
# share a ctid), summed.
def _version(t: str) -> str:
    return (f"pg_catalog.hashtidextended({t}.ctid, ({t}.oid::bigint << 32)"
            f" | (pg_catalog.age({t}.xmin)::bigint & 4294967295))")


_XID = "(pg_catalog.txid_current_if_assigned() % 4294967296)"
# Each table's statistics as one pseudo-random 64-bit value of its OID and counts, summed: any one
# table's counts moving changes the sum (counts that cancel across tables would need two hashes
# to: never by chance). Integer hashes, no numeric arithmetic per row.
_STATS_SIGNATURE = (f"sum(case when {_TABLE} then pg_catalog.hashint8extended({_SEQ}, c.oid::bigint)"
                    f" # pg_catalog.hashint8extended({_MOD}, -1 - c.oid::bigint) else 0 end)")
# Rows of this transaction's own xid, exactly (not age() = 0, which counts from the xid it had at its
# first call of age()): the xid read once per query (an InitPlan), compared with xideq, no per-row
# conversion to text.
_OWN = ("coalesce({t}.xmin = (select (pg_catalog.txid_current_if_assigned() % 4294967296)::text::xid),"
        " false)")
_OWN_CMIN = f"case when {_OWN.format(t='c')} then c.cmin::text::bigint end"
_ROW = ("c.oid::bigint, n.nspname, c.relname, c.relkind::text, c.relfilenode::bigint, "
        f"({_SEQ})::bigint, i.indrelid::bigint, ({_MOD})::bigint, {_version('c')}, {_OWN_CMIN}")
# The same relations as _FROM, from pg_class alone: the user schemas' OIDs read once (an InitPlan).
_CLASS_FROM = """
from pg_catalog.pg_class c
where c.relkind in ('r', 'p', 'i', 'I', 'm', 'S')
  and c.relnamespace = any(array(select n.oid from pg_catalog.pg_namespace n
                                 where n.nspname <> 'information_schema' and n.nspname not like 'pg\\_%'))"""
# One value that changes whenever the snapshot could have (module docstring): no catalog pass at all.
QUIET_SQL = f"""
select concat_ws('/', pg_catalog.pg_current_wal_insert_lsn()::text, pg_catalog.txid_current_snapshot()::text,
                 (extract(epoch from now()) * 1000000)::bigint, coalesce({_XID}, -1))"""

# Rows this transaction's xid wrote since (cmin above the previous snapshot's), and rows of other
# xids at or after the previous snapshot's horizon (xids compared circularly: both ages count from
# the same xid). No xid-to-text conversion per row. ``false`` when there is no previous snapshot.
_CHANGED = f"""(({_OWN.format(t='c')} and c.cmin::text::bigint > {{cmin}})
       or (not {_OWN.format(t='c')} and pg_catalog.age(c.xmin) <= pg_catalog.age('{{horizon}}'::xid)))"""
# A changed row as ROWS_SQL gives it (its schema's name and its table by index lookups, for it alone)
_CHANGED_ROW = f"""json_build_array(c.oid::bigint,
         (select n.nspname from pg_catalog.pg_namespace n where n.oid = c.relnamespace), c.relname,
         c.relkind::text, c.relfilenode::bigint, ({_SEQ})::bigint,
         (select i.indrelid::bigint from pg_catalog.pg_index i where i.indexrelid = c.oid), ({_MOD})::bigint,
         {_version('c')}, {_OWN_CMIN})"""

# After a statement: the check (count and versions of every user relation, the schemas' versions, the
# statistics' signature) and the rows changed since the previous snapshot, in one pass over pg_class;
# the changed rows' fields are computed for them only (an aggregate's FILTER).
META_SQL = f"""
select count(*), coalesce(sum({_version('c')}), 0)::text, coalesce({_STATS_SIGNATURE}, 0)::text,
       (select coalesce(sum({_version('n')}), 0)::text from pg_catalog.pg_namespace n),
       (extract(epoch from now()) * 1000000)::bigint,
       coalesce({_XID}, -1), pg_catalog.txid_snapshot_xmin(pg_catalog.txid_current_snapshot()) % 4294967296,
       json_agg({_CHANGED_ROW}) filter (where {{changed}}),
       ({QUIET_SQL})
{_CLASS_FROM}"""

ROWS_SQL = f"select {_ROW} {_FROM}"

STATS_SQL = f"""
select c.oid::bigint, ({_SEQ})::bigint, ({_MOD})::bigint {_CLASS_FROM}
  and {_TABLE} and ({_SEQ}) + ({_MOD}) > 0
"""


def meta_sql(cmin: int | None, horizon: int) -> str:
    """``META_SQL`` returning the rows changed since a snapshot whose largest own ``cmin`` and horizon
    were these; ``cmin`` None: no previous snapshot in this transaction (no rows)."""
    changed = "false" if cmin is None else _CHANGED.format(cmin=int(cmin), horizon=int(horizon))
    return META_SQL.format(changed=changed)


# Below this many relations the full snapshot is read (one query, as cheap as the incremental check).
SMALL = 300


@dataclasses.dataclass
class _State:
    """What the previous snapshot of one connection saw."""

    xact: int  # now() of its transaction, µs
    xid: int  # the transaction's xid modulo 2^32, -1 when none assigned yet
    horizon: int  # oldest running xid then, modulo 2^32
    cmin: int  # largest cmin of a pg_class row this transaction wrote, -1 when none
    rels: dict[int, Relation]  # (updated in place by the next snapshot, which takes the state over)
    versions: dict[int, int]  # each relation's row version (_version)
    total: int  # their sum
    stats: int  # the statistics' signature (_STATS_SIGNATURE)
    schemas: int  # the schemas' versions, summed
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
        # The rows changed since ``prev`` come with the check, in the same pass: they depend on ``prev``
        # only (its cmin counts while it had an xid: a transaction keeps its xid), and are thrown away
        # below if the transaction is not ``prev``'s. The state is taken over (updated in place) and
        # put back only when complete: after an error the next snapshot reads everything.
        self._state.pop(key, None)
        self._quiet.pop(key, None)
        sql = meta_sql(None if prev is None else prev.cmin if prev.xid != -1 else -1,
                       0 if prev is None else prev.horizon)
        ((row,),) = first([sql])
        count, total, stats, schemas, xact, xid, horizon, changed_rows, quiet_value = row
        count, total, stats, schemas, xact, xid, horizon = (int(count), int(total), int(stats), int(schemas),
                                                             int(xact), int(xid), int(horizon))
        state: _State | None = None
        changed: list[int] | None = None
        if prev is not None and prev.xact == xact and prev.schemas == schemas:
            changed = self._apply_changes(dbapi_conn, prev, changed_rows or [], stats)
            if len(prev.rels) == count and prev.total == total:
                state = prev
            # else a drop, a rolled-back subtransaction, or anything unforeseen: read it all
        if state is None:
            rels, versions, cmin = {}, {}, -1
            for r in fetch(dbapi_conn, ROWS_SQL):
                rel = _relation(r)
                rels[rel.oid], versions[rel.oid] = rel, int(r[8])
                if r[9] is not None:
                    cmin = max(cmin, int(r[9]))
            counted = {oid for oid, rel in rels.items() if rel.seq_scan or rel.n_mod}
            state = _State(xact, xid, horizon, cmin, rels, versions, sum(versions.values()), stats, schemas,
                           counted)
            changed = None
            self.full += 1
        else:
            state.xid, state.horizon, state.stats = xid, horizon, stats
            self.partial += 1
            if self._verify:
                self._check(dbapi_conn, state.rels)
        self._state[key] = state
        rels = dict(state.rels)
        self._quiet[key] = (str(quiet_value), rels)
        return self._returning(key, rels, changed)

    def _apply_changes(self, dbapi_conn: Any, state: _State, changed_rows: list[list], stats: int) -> list[int]:
        """Apply to ``state`` (in place) the rows changed since it, and the statistics when their
        signature moved; the OIDs whose Relation changed (``changed()``'s order)."""
        rels, versions = state.rels, state.versions
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
            version = int(row[8])
            state.total += version - versions.get(rel.oid, 0)
            versions[rel.oid] = version
            if row[9] is not None:
                state.cmin = max(state.cmin, int(row[9]))
            if row[5] or row[7]:
                state.counted.add(rel.oid)
        if stats != state.stats:
            # STATS_SQL returns the tables with non-zero counts; every other table's are 0 now, even
            # one that had counts before (an in-place TRUNCATE resets them): only those that had
            # counts (``counted``) can have fallen to 0, so the pass is O(counted), not O(relations).
            counts = {int(oid): (int(s), int(m)) for oid, s, m in fetch(dbapi_conn, STATS_SQL)}
            for oid in counts.keys() | state.counted:
                rel = rels.get(oid)
                s, m = counts.get(oid, (0, 0))
                if rel is not None and (rel.seq_scan, rel.n_mod) != (s, m):
                    rels[oid] = dataclasses.replace(rel, seq_scan=s, n_mod=m)
                    if oid not in created:
                        changed.add(oid)
            state.counted = set(counts)
        return sorted(changed) + [oid for oid in created if oid in rels]

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
