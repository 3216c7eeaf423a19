"""Catalog look-ups the operations use to be idempotent (online only)."""

from __future__ import annotations

from dataclasses import dataclass

from ..errors import GuardError
from ..pg_versions import NOT_NULL_IN_PG_CONSTRAINT
from ._runner import Runner
from ._sql import qualified


@dataclass(frozen=True)
class Relation:
    oid: int
    schema: str
    name: str
    relkind: str  # r table, p partitioned table, i index, I partitioned index, …

    @property
    def sql(self) -> str:
        """The schema-qualified, quoted name."""
        return qualified(self.name, self.schema)

    @property
    def partitioned(self) -> bool:
        return self.relkind in ("p", "I")


@dataclass(frozen=True)
class IndexState:
    relation: Relation
    table_oid: int
    valid: bool
    ready: bool
    constraint: str | None  # name of the constraint it backs, if any


def find_relation(runner: Runner, name: str, schema: str | None) -> Relation | None:
    row = runner.query(
        "SELECT c.oid, n.nspname, c.relname, c.relkind FROM pg_class c "
        "JOIN pg_namespace n ON n.oid = c.relnamespace WHERE c.oid = to_regclass(:name)",
        name=qualified(name, schema))
    return Relation(int(row[0][0]), row[0][1], row[0][2], row[0][3]) if row else None


def table(runner: Runner, name: str, schema: str | None) -> Relation:
    """The table ``schema.name`` (search_path when schema is None). Raises GuardError if absent."""
    rel = find_relation(runner, name, schema)
    if rel is None or rel.relkind not in ("r", "p", "m", "f"):
        raise GuardError(f"table {qualified(name, schema)} does not exist.")
    return rel


def index(runner: Runner, name: str, schema: str) -> IndexState | None:
    """The index ``schema.name`` and its pg_index state, or None."""
    rows = runner.query(
        "SELECT c.oid, n.nspname, c.relname, c.relkind, i.indrelid, i.indisvalid, i.indisready, "
        "(SELECT conname FROM pg_constraint WHERE conindid = c.oid AND contype IN ('p','u','x') LIMIT 1) "
        "FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace JOIN pg_index i ON i.indexrelid = c.oid "
        "WHERE n.nspname = :schema AND c.relname = :name", schema=schema, name=name)
    if not rows:
        return None
    r = rows[0]
    return IndexState(Relation(int(r[0]), r[1], r[2], r[3]), int(r[4]), bool(r[5]), bool(r[6]), r[7])


def relation_named(runner: Runner, name: str, schema: str) -> Relation | None:
    """Any relation called ``schema.name`` (names of tables and indexes share a namespace)."""
    rows = runner.query(
        "SELECT c.oid, n.nspname, c.relname, c.relkind FROM pg_class c "
        "JOIN pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname = :schema AND c.relname = :name",
        schema=schema, name=name)
    return Relation(int(rows[0][0]), rows[0][1], rows[0][2], rows[0][3]) if rows else None


@dataclass(frozen=True)
class ConstraintState:
    name: str
    contype: str  # c check, f foreign key, n not null (PG >= 18), p, u, x
    validated: bool


def constraint(runner: Runner, table_oid: int, name: str) -> ConstraintState | None:
    rows = runner.query("SELECT conname, contype, convalidated FROM pg_constraint "
                        "WHERE conrelid = :oid AND conname = :name", oid=table_oid, name=name)
    return ConstraintState(rows[0][0], rows[0][1], bool(rows[0][2])) if rows else None


@dataclass(frozen=True)
class ColumnState:
    name: str
    attnum: int
    not_null: bool
    type_sql: str
    #: PG >= 18: the NOT NULL constraint row (name, validated), None if none / older server
    not_null_constraint: tuple[str, bool] | None


def column(runner: Runner, rel: Relation, name: str) -> ColumnState:
    """Column ``name`` of ``rel``. Raises GuardError if it does not exist."""
    rows = runner.query(
        "SELECT a.attname, a.attnum, a.attnotnull, format_type(a.atttypid, a.atttypmod) FROM pg_attribute a "
        "WHERE a.attrelid = :oid AND a.attname = :name AND a.attnum > 0 AND NOT a.attisdropped",
        oid=rel.oid, name=name)
    if not rows:
        raise GuardError(f"column {name!r} does not exist in table {rel.sql}.")
    attname, attnum, notnull, type_sql = rows[0]
    nn = None
    if NOT_NULL_IN_PG_CONSTRAINT.on(runner.server_version_num):
        con = runner.query("SELECT conname, convalidated FROM pg_constraint WHERE conrelid = :oid "
                           "AND contype = 'n' AND conkey = ARRAY[:attnum]::int2[]", oid=rel.oid, attnum=attnum)
        nn = (con[0][0], bool(con[0][1])) if con else None
    return ColumnState(attname, int(attnum), bool(notnull), type_sql, nn)


def primary_key(runner: Runner, rel: Relation) -> list[tuple[str, str]]:
    """``[(column, type SQL), …]`` of the primary key in key order; [] when there is none."""
    return [(r[0], r[1]) for r in runner.query(
        "SELECT a.attname, format_type(a.atttypid, a.atttypmod) FROM pg_index i "
        "CROSS JOIN LATERAL unnest(i.indkey) WITH ORDINALITY AS k(attnum, ord) "
        "JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = k.attnum "
        "WHERE i.indrelid = :oid AND i.indisprimary ORDER BY k.ord", oid=rel.oid)]


def partitions(runner: Runner, rel: Relation) -> list[Relation]:
    """Direct partitions of a partitioned table or index, in OID order."""
    return [Relation(int(r[0]), r[1], r[2], r[3]) for r in runner.query(
        "SELECT c.oid, n.nspname, c.relname, c.relkind FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid "
        "JOIN pg_namespace n ON n.oid = c.relnamespace WHERE i.inhparent = :oid ORDER BY c.oid", oid=rel.oid)]


def attached_child_index(runner: Runner, parent_index_oid: int, child_table_oid: int) -> IndexState | None:
    """The index of ``child_table`` already attached to the partitioned index, if any."""
    rows = runner.query(
        "SELECT n.nspname, c.relname FROM pg_inherits inh JOIN pg_index x ON x.indexrelid = inh.inhrelid "
        "JOIN pg_class c ON c.oid = x.indexrelid JOIN pg_namespace n ON n.oid = c.relnamespace "
        "WHERE inh.inhparent = :parent AND x.indrelid = :child", parent=parent_index_oid, child=child_table_oid)
    return index(runner, rows[0][1], rows[0][0]) if rows else None
