"""A revision's starting facts (trace/keys.py) carried over from the previous revision: only the
tables whose catalog rows changed since are read again (issue 13: linear tracing cost).

Reading every table's facts when each revision starts costs O(tables) per revision (``format_type``,
``pg_get_indexdef`` and ``pg_get_constraintdef`` for every column, index and constraint: ~0.15 ms per
table on PostgreSQL 15), so O(revisions × tables) over a history, more than the plain upgrade itself
once a schema has a few dozen tables. ``RevisionFacts`` reads them all once, then per revision only:

- the tables some catalog row of which was *written* since the previous read: a change to a table's
  columns, indexes, constraints, partitioning or row security inserts or updates a row of
  ``pg_class``, ``pg_attribute``, ``pg_index``, ``pg_constraint``, ``pg_inherits`` or
  ``pg_partitioned_table`` naming it. "Written since" is told as the incremental catalog snapshot
  tells it (trace/snapshots.py): a row of this transaction with a command id (``cmin``) above the
  largest one its rows had at the previous read (command ids only grow within a transaction, until
  a subtransaction rolls back: see below), a row of any other transaction (an earlier one, a
  subtransaction, another session) with an ``xmin`` at or after the oldest transaction running at
  the previous read ("System Columns" in the docs);
- the tables whose facts name one of those: a foreign key's ``REFERENCES`` (the referencing table),
  a partition's parent (the partitions), a table's row type (the tables with a column of it);
- the tables of indexes gone from the catalog snapshot (a dropped index deletes its rows, writing
  none).

Only user objects are looked at: every object created after initdb has an OID of at least
FirstNormalObjectId, 16384 (src/include/access/transam.h), so each catalog is read by an index range
over those rows, not scanned whole.

What writes no row of the table yet changes its facts makes the next read a full one: an existing
type (``format_type`` shows its name), enum label, schema or composite type written (a rename), any
schema written (one named like the user changes what ``"$user"`` finds), a new relation or type named
like an older one in another schema, or a dropped relation named like a remaining one (which of the
two shows schema-qualified depends on search_path), a changed ``search_path``, another connection or
backend, an isolation level above READ COMMITTED (the rows seen are the transaction's snapshot while
``pg_get_*def`` read the latest catalog), the previous read's transaction rolled back
(``txid_status``), and, told by the tracer (``invalidate``), a ROLLBACK or ROLLBACK TO SAVEPOINT, a DO
block or a procedure (PL/pgSQL EXCEPTION blocks roll back subtransactions): rolled-back rows leave the
older row versions visible again, with their old ``xmin`` and a combo command id in ``cmin``, which
nothing here can tell from rows never touched. Every partial read is also checked against the
server: the numbers of user tables and of their constraints must be what the kept facts give (a
dropped foreign key deletes its row, writing none: the facts keep one constraint too many), else the
full read is made. ``ALEMBIC_GUARD_VERIFY_SNAPSHOTS=1`` compares every partial read with a full one
and raises AssertionError on a difference (the tests use it).

Not seen: an expression index or a constraint whose definition shows a function, collation or
operator class renamed since (``pg_proc`` and the like are not read), a type dropped that shadowed
another one's name, and a subtransaction rolled back by raw DBAPI calls the tracer does not see: the
definition text keeps the old name until the table changes. The facts only feed hints and rules'
details, never the trace's verdict.
"""

from __future__ import annotations

import dataclasses
import json
import os
from typing import Any

from ..model import TableFacts
from . import keys
from .catalog import fetch_all

#: FirstNormalObjectId (src/include/access/transam.h): the lowest OID of an object created after initdb
FIRST_USER_OID = 16384

# The previous read's mark, bound as parameters (one query text: prepared once, planned once), and
# this transaction's xid with the command id above which its rows are new (-1: all are, it is not
# the previous read's transaction or had no xid then, so it had written nothing yet).
_PREV = """with prev as (select %s::bigint as xid, %s::bigint as cmin, %s::bigint as horizon,
                        %s::bigint as max_type, %s::bigint as max_ns, %s::bigint as max_class,
                        %s::bigint as max_enum, %s::bigint as txid),
own as (select x.xid,
               case when x.xid::text::bigint = (select xid from prev) then (select cmin from prev) else -1 end as cmin
          from (select (pg_catalog.txid_current_if_assigned() %% 4294967296)::text::xid as xid) x)"""


def _written(t: str) -> str:
    """The row of alias ``t`` was inserted or updated since the previous read (module docstring)."""
    return (f"(case when {t}.xmin = (select xid from own) then {t}.cmin::text::bigint > (select cmin from own)"
            f" else pg_catalog.age({t}.xmin) <= pg_catalog.age((select horizon from prev)::text::xid) end)")


def _own_cmin(t: str) -> str:
    return f"max({t}.cmin::text::bigint) filter (where {t}.xmin = (select xid from own))"


def _shadows(t: str, catalog: str, name: str, namespace: str, max_oid: str) -> str:
    """The row of alias ``t`` is new since the previous read and has the name of an older object in
    another schema: whichever comes first in search_path shows unqualified, the other qualified."""
    return (f"{t}.oid > (select {max_oid} from prev) and exists (select from pg_catalog.{catalog} o"
            f" where o.{name} = {t}.{name} and o.{namespace} <> {t}.{namespace}"
            f" and o.oid <= (select {max_oid} from prev))")


# One pass over each catalog's user rows (an index range of OIDs): the tables its rows written since
# name, the largest command id of this transaction's rows (the next mark), and whether something that
# shows in other tables' facts changed (``elsewhere``: a full read): an existing type, enum label,
# schema or composite type written (a rename), any schema written (one named like the user, "$user"
# in search_path, changes what resolves where), a new relation or type with the name of an older one
# in another schema (one of the two now shows schema-qualified).
_SCANS = f"""
cls as (select array_agg(coalesce(i.indrelid, c.oid)) filter (where {_written('c')}) as oids, {_own_cmin('c')} as cmax,
               bool_or((c.relkind = 'c' and c.oid <= (select max_class from prev))
                       or {_shadows('c', 'pg_class', 'relname', 'relnamespace', 'max_class')})
                 filter (where {_written('c')}) as elsewhere,
               array_agg(c.oid) filter (where c.relkind in ('r', 'p', 'm') and c.relpersistence <> 't') as tables
          from pg_catalog.pg_class c left join pg_catalog.pg_index i on i.indexrelid = c.oid
         where c.oid >= {FIRST_USER_OID}),
att as (select array_agg(distinct a.attrelid) filter (where {_written('a')}) as oids, {_own_cmin('a')} as cmax,
               array_agg(distinct a.atttypid) filter (where a.atttypid >= {FIRST_USER_OID}) as types
          from pg_catalog.pg_attribute a where a.attrelid >= {FIRST_USER_OID}),
idx as (select array_agg(i.indrelid) filter (where {_written('i')}) as oids, {_own_cmin('i')} as cmax
          from pg_catalog.pg_index i where i.indrelid >= {FIRST_USER_OID}),
con as (select array_agg(t.conrelid) filter (where {_written('t')}) as oids, {_own_cmin('t')} as cmax,
               count(*) filter (where t.conrelid in (select unnest(cls.tables) from cls)) as n
          from pg_catalog.pg_constraint t where t.conrelid >= {FIRST_USER_OID}),
inh as (select array_agg(h.inhrelid) filter (where {_written('h')})
                 || array_agg(h.inhparent) filter (where {_written('h')}) as oids
          from pg_catalog.pg_inherits h where h.inhrelid >= {FIRST_USER_OID}),
part as (select array_agg(p.partrelid) filter (where {_written('p')}) as oids
           from pg_catalog.pg_partitioned_table p where p.partrelid >= {FIRST_USER_OID}),
typ as (select bool_or((t.oid <= (select max_type from prev) and t.typrelid = 0 and t.typelem = 0)
                       or {_shadows('t', 'pg_type', 'typname', 'typnamespace', 'max_type')})
                 filter (where {_written('t')}) as elsewhere, {_own_cmin('t')} as cmax
          from pg_catalog.pg_type t where t.oid >= {FIRST_USER_OID}),
enm as (select bool_or(e.oid <= (select max_enum from prev)) filter (where {_written('e')}) as elsewhere,
               {_own_cmin('e')} as cmax
          from pg_catalog.pg_enum e where e.oid >= {FIRST_USER_OID}),
nsp as (select bool_or(true) filter (where {_written('s')}) as elsewhere, {_own_cmin('s')} as cmax
          from pg_catalog.pg_namespace s),
dirty(oid) as (select unnest(cls.oids || att.oids || idx.oids || con.oids || inh.oids || part.oids)
                 from cls, att, idx, con, inh, part),
-- the row types of the changed tables and their arrays
rowtypes(oid) as (select t.oid from pg_catalog.pg_class c join pg_catalog.pg_type t
                    on t.oid = c.reltype or t.typelem = c.reltype
                  where c.oid in (select oid from dirty) and c.reltype <> 0),
-- the tables whose facts name a changed one: its foreign keys' REFERENCES, its partitions' parent,
-- columns of its row type
reread(oid) as (
  select oid from dirty
  union select c.conrelid from pg_catalog.pg_constraint c where c.confrelid in (select oid from dirty)
  union select h.inhrelid from pg_catalog.pg_inherits h where h.inhparent in (select oid from dirty)
  union select a.attrelid from pg_catalog.pg_attribute a
         where a.attrelid >= {FIRST_USER_OID} and a.atttypid in (select oid from rowtypes)
           and exists (select from rowtypes, att where rowtypes.oid = any(att.types)))"""

# This read's mark, for the next one (the first columns, in _Mark's order), and the counts a partial
# read is checked with: the user tables (relkind r, p, m, not temporary) and their constraints, which
# the facts' tables and constraints must add up to. (A row deleted writes none: a dropped foreign key
# leaves the facts one constraint too many, never too few, as every constraint added is a row written.)
_MARK_COLUMNS = """coalesce(pg_catalog.txid_current_if_assigned() %% 4294967296, -1),
       greatest(-1, cls.cmax, att.cmax, idx.cmax, con.cmax, typ.cmax, enm.cmax, nsp.cmax),
       pg_catalog.txid_snapshot_xmin(pg_catalog.txid_current_snapshot()) %% 4294967296,
       pg_catalog.current_setting('search_path'),
       (select max(oid)::bigint from pg_catalog.pg_type), (select max(oid)::bigint from pg_catalog.pg_namespace),
       (select max(oid)::bigint from pg_catalog.pg_class), (select max(oid)::bigint from pg_catalog.pg_enum),
       coalesce(pg_catalog.txid_current_if_assigned(), -1), pg_catalog.pg_backend_pid(),
       pg_catalog.current_setting('transaction_isolation'),
       coalesce(array_length(cls.tables, 1), 0), con.n"""


def _escaped(sql: str) -> str:
    """``sql`` for a driver given parameters: a literal % doubled."""
    return sql.replace("%", "%%")


_KEYS_BODY = _escaped(keys.UNIQUE_KEYS_SQL.removesuffix(keys.UNIQUE_KEYS_ORDER))

#: the mark alone, read with a full read of the facts (the previous mark's parameters are unused)
MARK_FULL_SQL = f"{_PREV},\n{_SCANS}\nselect {_MARK_COLUMNS} from cls, att, idx, con, typ, enm, nsp"

#: a partial read in one query (the changed tables computed once): the mark, whether something
#: outside the tables changed, the OIDs read again, and their facts and unique keys as JSON arrays
#: of TABLE_FACTS_SQL / UNIQUE_KEYS_SQL rows (objects named by their columns)
CHANGED_SQL = f"""{_PREV},
{_SCANS}
select {_MARK_COLUMNS},
       coalesce(cls.elsewhere or typ.elsewhere or enm.elsewhere or nsp.elsewhere, false)
         -- the previous read's transaction rolled back: its rows are gone, older versions back
         or case when (select txid from prev) >= 0
                 then pg_catalog.txid_status((select txid from prev)) = 'aborted' else false end,
       (select array_agg(oid::bigint) from reread),
       (select json_agg(f) from ({_escaped(keys.TABLE_FACTS_SQL)}  and c.oid in (select oid from reread)) f),
       (select json_agg(k {keys.UNIQUE_KEYS_ORDER.replace("order by ", "order by k.").replace(", ", ", k.")})
          from ({_KEYS_BODY}  and t.oid in (select oid from reread)) k)
  from cls, att, idx, con, typ, enm, nsp"""

FACTS_OF_SQL = _escaped(keys.TABLE_FACTS_SQL) + "  and c.oid = any(%s)\n"
KEYS_OF_SQL = _KEYS_BODY + "  and t.oid = any(%s)\n" + keys.UNIQUE_KEYS_ORDER


@dataclasses.dataclass
class _Mark:
    """What the previous read saw, and the facts it left, by table OID."""

    conn: int  # id() of the DBAPI connection it was read on
    xid: int  # its transaction's xid modulo 2^32, -1 when none was assigned yet
    cmin: int  # the largest command id of that transaction's catalog rows then, -1 when none
    horizon: int  # the oldest running xid then, modulo 2^32
    search_path: str
    max_type: int  # the largest OIDs then: an object at or below one existed
    max_ns: int
    max_class: int
    max_enum: int
    txid: int  # the transaction's full txid (txid_status), -1 when none was assigned yet
    pid: int  # the backend it was read on (a new connection can reuse an old one's id())
    relations: dict  # the catalog snapshot (oid → Relation) of that moment: which indexes existed
    tables: dict[int, tuple[str, TableFacts]]
    keys: dict[int, tuple[str, list[tuple[str, ...]]]]

    def params(self) -> tuple:
        return (self.xid, self.cmin, self.horizon, self.max_type, self.max_ns, self.max_class, self.max_enum,
                self.txid)


_NO_MARK = (-1, -1, 0, 0, 0, 0, 0, -1)  # every row counts as written: unused by a full read

# Below this many tables a full read costs less than the partial one (the partial read's passes over
# the catalogs cost ~3 ms; a full read ~0.1 ms per table, PostgreSQL 15-18 on 2 cores): read them
# all, with no mark, until the schema grows.
SMALL = 40


class RevisionFacts:
    """The facts each revision starts with, for one tracer. ``queries(dbapi)`` are sent in the round
    trip of the snapshot before a revision's first statement; ``read(dbapi, results, relations)``
    turns their rows (and that snapshot) into ``(unique_keys, published, tables)``. ``reset()``
    forgets what was kept (a new ``alembic upgrade`` attempt)."""

    def __init__(self) -> None:
        self._mark: _Mark | None = None
        self._partial_sent = False
        self._verify = os.environ.get("ALEMBIC_GUARD_VERIFY_SNAPSHOTS") == "1"
        self.full = self.partial = 0  # reads made each way (tests, benchmarks)
        self.reread: list[str] = []  # the tables the last partial read read again (tests)
        self._threshold = 0 if self._verify else SMALL  # verifying: partial reads from the start
        self._seen = 0  # tables the last read saw
        self._mark_sent = False

    def reset(self) -> None:
        self._mark = None

    def invalidate(self) -> None:
        """The next read is a full one: a ROLLBACK or ROLLBACK TO SAVEPOINT ran (rolled-back rows
        leave older row versions visible again, which no ``xmin`` or ``cmin`` shows as written, and an
        aborted subtransaction leaves combo command ids in ``cmin``)."""
        self._mark = None

    def queries(self, dbapi_conn: Any) -> list[str | tuple[str, tuple]]:
        """The queries to send now, each a SQL text or ``(text, parameters)`` (``catalog.fetch_all``)."""
        mark = self._mark if self._mark is not None and self._mark.conn == id(dbapi_conn) else None
        self._partial_sent = mark is not None
        self._mark_sent = mark is None and self._seen >= self._threshold
        if mark is not None:
            return [(CHANGED_SQL, mark.params()), keys.PUBLISHED_SQL]
        full = [keys.TABLE_FACTS_SQL, keys.UNIQUE_KEYS_SQL, keys.PUBLISHED_SQL]
        return [(MARK_FULL_SQL, _NO_MARK), *full] if self._mark_sent else full

    def read(self, dbapi_conn: Any, results: list[list[tuple]], relations: dict) -> tuple[
            dict[str, list[tuple[str, ...]]], set[str], dict[str, TableFacts]]:
        """``(unique_keys, published_tables, table_facts)`` as trace/keys.py reads them, from the rows of
        ``queries`` (in order) and the catalog snapshot (``{oid: Relation}``) read with them. May read
        more (a full read, or the facts of a dropped index's table) on ``dbapi_conn``; raises what the
        driver raises."""
        prev = self._mark if self._partial_sent else None
        if not self._partial_sent and not self._mark_sent:  # a small schema: a full read, no mark
            facts_rows, keys_rows, published_rows = results
            tables, keys_by_oid = _by_oid(facts_rows), _keys_by_oid(keys_rows)
            self.full += 1
            self._seen, self._mark = len(tables), None
            return _named(keys_by_oid, published_rows, tables)
        if prev is None:
            mark_rows, facts_rows, keys_rows, published_rows = results
        else:
            (mark_rows, published_rows), facts_rows, keys_rows = results, [], []
        row = mark_rows[0]
        new = _Mark(id(dbapi_conn), *(int(v or 0) for v in row[:3]), str(row[3]),
                    *(int(v or 0) for v in row[4:10]), relations, {}, {})
        isolation, n_tables, n_constraints = row[10:13]
        tables = keys_by_oid = None
        if prev is not None:
            elsewhere, reread, facts_json, keys_json = row[13:]
            # (under REPEATABLE READ the rows seen are the transaction's snapshot, while pg_get_*def
            # and format_type read the latest catalog: another session's rename shows in one only)
            if (not elsewhere and prev.search_path == new.search_path and prev.pid == new.pid
                    and isolation == "read committed"):
                read_again = _by_oid(_json_rows(facts_json))
                tables, keys_by_oid = self._carry(dbapi_conn, prev, relations, set(map(int, reread or ())),
                                                  read_again, _keys_by_oid(_json_rows(keys_json)))
            if tables is not None and not _counts_match(tables, int(n_tables), int(n_constraints)):
                tables = None
            if tables is not None:
                self.reread = sorted(name for name, _facts in read_again.values())
        if tables is None or keys_by_oid is None:
            # the partial read was not enough: read every table
            tables, keys_by_oid = _read_all(dbapi_conn) if prev is not None else (
                _by_oid(facts_rows), _keys_by_oid(keys_rows))
            self.full += 1
        else:
            self.partial += 1
            if self._verify:
                _check(dbapi_conn, tables, keys_by_oid)
        new.tables, new.keys = tables, keys_by_oid
        self._mark, self._seen = new, len(tables)
        return _named(keys_by_oid, published_rows, tables)

    @staticmethod
    def _carry(dbapi_conn: Any, prev: _Mark, relations: dict, reread: set[int], read_again: dict,
               keys_again: dict) -> tuple[dict | None, dict | None]:
        """The previous facts with the re-read tables' (``read_again``, ``keys_again``, by OID)
        replacing theirs; the tables of indexes dropped since (no row written) read here. (None, None)
        when the result cannot be trusted."""
        gone = prev.relations.keys() - relations.keys()
        if gone:
            # a dropped relation named like one in another schema: that one may now show unqualified
            names: dict[str, set[str]] = {}
            for rel in relations.values():
                names.setdefault(rel.name, set()).add(rel.schema)
            if any(names.get(prev.relations[oid].name, set()) - {prev.relations[oid].schema} for oid in gone):
                return None, None
        tables, keys_by_oid = dict(prev.tables), dict(prev.keys)
        _replace(tables, keys_by_oid, reread | gone, read_again, keys_again)
        # a dropped index deletes its rows: its table (still there, not re-read) is read now
        orphaned = sorted({rel.table_oid for oid in gone if (rel := prev.relations[oid]).table_oid is not None}
                          - reread - gone)
        if orphaned:
            facts_rows, keys_rows = fetch_all(dbapi_conn, [(FACTS_OF_SQL, (orphaned,)), (KEYS_OF_SQL, (orphaned,))])
            _replace(tables, keys_by_oid, set(orphaned), _by_oid(facts_rows), _keys_by_oid(keys_rows))
        for oid, (name, _facts) in tables.items():
            rel = relations.get(oid)
            if rel is None or rel.qualified != name:  # not seen written, yet gone or renamed
                return None, None
        return tables, keys_by_oid


def _replace(tables: dict, keys_by_oid: dict, oids: set[int], read_again: dict, keys_again: dict) -> None:
    """Drop what was kept for ``oids`` and put in what was read again (a table read again without
    unique keys has none)."""
    for oid in oids:
        tables.pop(oid, None)
        keys_by_oid.pop(oid, None)
    tables.update(read_again)
    keys_by_oid.update(keys_again)


def _read_all(dbapi_conn: Any) -> tuple[dict, dict]:
    """Every table's facts and unique keys, by OID (the full read)."""
    facts_rows, keys_rows = fetch_all(dbapi_conn, [keys.TABLE_FACTS_SQL, keys.UNIQUE_KEYS_SQL])
    return _by_oid(facts_rows), _keys_by_oid(keys_rows)


def _named(keys_by_oid: dict, published_rows: list[tuple], tables: dict) -> tuple[
        dict[str, list[tuple[str, ...]]], set[str], dict[str, TableFacts]]:
    return ({name: cols for name, cols in keys_by_oid.values()}, keys._published_tables(published_rows),
            {name: facts for name, facts in tables.values()})


def _json_rows(value: Any) -> list[tuple]:
    """The rows of a ``json_agg`` of a subquery (objects in column order) as tuples; None: no rows.
    (psycopg decodes json; a driver that gives the text gets it decoded here.)"""
    if value is None:
        return []
    if isinstance(value, (str, bytes)):
        value = json.loads(value)
    return [tuple(obj.values()) for obj in value]


def _by_oid(rows: list[tuple]) -> dict[int, tuple[str, TableFacts]]:
    """TABLE_FACTS_SQL rows by table OID (its last column)."""
    return {int(row[-1]): keys.table_facts_row(row) for row in rows}


def _keys_by_oid(rows: list[tuple]) -> dict[int, tuple[str, list[tuple[str, ...]]]]:
    """UNIQUE_KEYS_SQL rows by table OID (its last column), each table's keys in the query's order."""
    out: dict[int, tuple[str, list[tuple[str, ...]]]] = {}
    for row in rows:
        name, cols = keys.unique_key_row(row)
        out.setdefault(int(row[-1]), (name, []))[1].append(cols)
    return out


def _counts_match(tables: dict[int, tuple[str, TableFacts]], n_tables: int, n_constraints: int) -> bool:
    """A dropped foreign key deletes its row, writing none: the count of constraints tells."""
    return (len(tables) == n_tables
            and sum(len(facts.constraints) for _name, facts in tables.values()) == n_constraints)


def _check(dbapi_conn: Any, tables: dict, keys_by_oid: dict) -> None:
    full, full_keys = _read_all(dbapi_conn)
    if full != tables or full_keys != keys_by_oid:
        diff = {oid: (tables.get(oid), full.get(oid)) for oid in full.keys() | tables.keys()
                if tables.get(oid) != full.get(oid)}
        key_diff = {oid: (keys_by_oid.get(oid), full_keys.get(oid)) for oid in full_keys.keys() | keys_by_oid.keys()
                    if keys_by_oid.get(oid) != full_keys.get(oid)}
        raise AssertionError(f"carried revision facts differ from a full read: {diff} {key_diff}")
