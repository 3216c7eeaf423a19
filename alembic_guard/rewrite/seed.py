"""Sample rows for a shadow database, a few thousand per table, shaped by the table's constraints.

A rewrite is proven on seeded tables: many statements behave differently on a non-empty table (SET
NOT NULL, ADD COLUMN … NOT NULL, a volatile default, VALIDATE, a unique index, an UPDATE or DELETE),
and a batched rewrite should cross more than one batch (op.backfill walks 1000 keys a batch).
Each table gets ONE ``INSERT … SELECT … FROM generate_series(1, n) g`` (no row-by-row inserts),
its values built from the catalog:

- a value of the column's type from ``g`` (distinct per row, so unique columns and keys hold);
- a foreign key takes the values of existing rows of the referenced table (parents are seeded
  first), spread over them;
- NOT NULL columns always get a value; columns with a default keep it;
- when the insert fails (a CHECK, a partition bound, a unique column with few distinct values),
  it is tried again with the constants of the table's CHECK constraints and partition bounds as the
  values of the columns they constrain, then with those columns NULL where allowed, then with fewer
  rows; a table is left empty only when none of that works. Seeding never raises.

Sources: PostgreSQL docs, "INSERT" (a query as the row source, columns not listed get their
default), "generate_series", "pg_constraint", "pg_partitioned_table".
"""

from __future__ import annotations

import psycopg
from pglast import ast
from pglast.visitors import Visitor
from psycopg import sql

from .sqlrewrite import deparse, parse_all

#: rows per table by default
DEFAULT_ROWS = 2000
#: how many rows each attempt inserts when the previous size failed
FEWER = (100, 10, 1)

COLUMNS_SQL = """
SELECT a.attname, format_type(a.atttypid, a.atttypmod), coalesce(bt.typname, t.typname),
       coalesce(bt.typtype, t.typtype)::text, a.attnotnull, (d.adbin IS NOT NULL) AS has_default,
       a.attidentity <> '' AS identity, a.attgenerated <> '' AS generated,
       CASE WHEN a.atttypmod > 4 AND coalesce(bt.typname, t.typname) IN ('varchar', 'bpchar')
            THEN a.atttypmod - 4 END AS maxlen,
       coalesce(bt.oid, t.oid)
FROM pg_attribute a JOIN pg_type t ON t.oid = a.atttypid
LEFT JOIN pg_type bt ON t.typtype = 'd' AND bt.oid = t.typbasetype
LEFT JOIN pg_attrdef d ON d.adrelid = a.attrelid AND d.adnum = a.attnum
WHERE a.attrelid = %s::regclass AND a.attnum > 0 AND NOT a.attisdropped
ORDER BY a.attnum
"""

FKS_SQL = """
SELECT con.oid, con.confrelid::regclass::text, array_agg(a.attname ORDER BY k.ord), array_agg(fa.attname ORDER BY k.ord)
FROM pg_constraint con
JOIN LATERAL unnest(con.conkey, con.confkey) WITH ORDINALITY AS k(child, parent, ord) ON true
JOIN pg_attribute a ON a.attrelid = con.conrelid AND a.attnum = k.child
JOIN pg_attribute fa ON fa.attrelid = con.confrelid AND fa.attnum = k.parent
WHERE con.contype = 'f' AND con.conrelid = %s::regclass
GROUP BY con.oid, con.confrelid
"""

CHECKS_SQL = """
SELECT pg_get_constraintdef(con.oid), array(SELECT a.attname FROM pg_attribute a
                                            WHERE a.attrelid = con.conrelid AND a.attnum = ANY (con.conkey))
FROM pg_constraint con WHERE con.contype = 'c' AND con.conrelid = %s::regclass
"""

# the partition key columns of the table (when partitioned) and the bounds of its leaves, or the
# table's own bound (when it is a partition)
BOUNDS_SQL = """
WITH RECURSIVE tree AS (
    SELECT %s::regclass::oid AS relid
    UNION ALL SELECT i.inhrelid FROM pg_inherits i JOIN tree ON i.inhparent = tree.relid)
SELECT pg_get_expr(c.relpartbound, c.oid),
       (SELECT array_agg(a.attname ORDER BY k.ord)
          FROM pg_partitioned_table p
          CROSS JOIN LATERAL unnest(p.partattrs::int2[]) WITH ORDINALITY k(attnum, ord)
          JOIN pg_attribute a ON a.attrelid = p.partrelid AND a.attnum = k.attnum
         WHERE p.partrelid = pi.inhparent)
FROM tree JOIN pg_class c ON c.oid = tree.relid
JOIN pg_inherits pi ON pi.inhrelid = c.oid
WHERE c.relpartbound IS NOT NULL
"""

_INT = {"int2", "int4", "int8", "oid", "numeric"}
_FLOAT = {"float4", "float8"}
_TEXT = {"text", "varchar", "bpchar", "name", "citext"}
_TIME = {"timestamptz", "timestamp", "date", "time", "timetz"}


def _value(conn: psycopg.Connection, typname: str, typtype: str, typid: int, maxlen: int | None,
           column: str) -> sql.Composable | None:
    """A SQL expression of row ``g`` (the generate_series column) for a column of this type, distinct
    per row; None for a type it cannot build."""
    g = sql.SQL("g")
    if typname in _INT:
        return g
    if typname in _FLOAT:
        return sql.SQL("g + 0.5")
    if typname == "money":
        return sql.SQL("(g + 0.5)::numeric::money")
    if typname in _TEXT:
        text = sql.SQL("{} || g").format(sql.Literal(column[:3]))
        return sql.SQL("right({}, {})").format(text, sql.Literal(maxlen)) if maxlen else text
    if typname == "bool":
        return sql.SQL("g % 2 = 0")
    if typname in _TIME:
        step = "1 minute" if typname in ("time", "timetz") else "1 day"
        return sql.SQL("(now() - g * interval {})::{}").format(sql.Literal(step), sql.SQL(typname))
    if typname == "interval":
        return sql.SQL("g * interval '1 minute'")
    if typname == "uuid":
        return sql.SQL("gen_random_uuid()")
    if typname in ("json", "jsonb"):
        return sql.SQL("json_build_object('n', g)::{}").format(sql.SQL(typname))
    if typname == "bytea":
        return sql.SQL("int4send(g::int4)")
    if typname in ("inet", "cidr"):
        return sql.SQL("('10.0.0.0'::inet + g)::{}").format(sql.SQL(typname))
    if typtype == "e":
        name = conn.execute("SELECT %s::regtype::text", (typid,)).fetchone()[0]
        labels = sql.SQL("enum_range(NULL::{})").format(sql.SQL(name))
        return sql.SQL("({})[1 + (g % array_length({}, 1))::int]").format(labels, labels)
    if typname.startswith("_"):  # arrays: empty
        return sql.SQL("'{}'")
    return None


def _constants(expr_sql: str, wrap: str) -> list[str]:
    """The constants (as SQL) of an expression, read with pglast: ``wrap`` holds ``{}`` where the
    text goes to make one statement (a CHECK constraint definition, a partition bound)."""
    nodes = parse_all(wrap.format(expr_sql))
    if not nodes:
        return []
    found: list[str] = []

    class V(Visitor):
        def visit_A_Const(self, ancestors, n):  # noqa: N802
            if not n.isnull:
                text = deparse(n)
                if text not in found:
                    found.append(text)

    V()(nodes[0])
    return found


def _candidates(conn: psycopg.Connection, table: str) -> tuple[dict[str, list[str]], list[str]]:
    """Column → constants its CHECK constraints or partition bounds name (values likely to pass),
    and the partition key columns (a row no partition takes is blamed on them)."""
    out: dict[str, list[str]] = {}
    for definition, cols in conn.execute(CHECKS_SQL, (table,)).fetchall():
        consts = _constants(definition, "ALTER TABLE x ADD CONSTRAINT c {}")
        for c in cols or ():
            out.setdefault(c, []).extend(v for v in consts if v not in out.get(c, []))
    partition_keys: list[str] = []
    for bound, keys in conn.execute(BOUNDS_SQL, (table,)).fetchall():
        partition_keys += [k for k in keys or () if k not in partition_keys]
        if not keys or not bound or bound == "DEFAULT":
            continue
        nodes = parse_all(f"CREATE TABLE x PARTITION OF y {bound}")
        spec = nodes[0].partbound if nodes and isinstance(nodes[0], ast.CreateStmt) else None
        if spec is None:
            continue
        if spec.lowerdatums:  # RANGE: the lower bound is inside the partition
            for col, datum in zip(keys, spec.lowerdatums, strict=False):
                if isinstance(datum, ast.A_Const):
                    out.setdefault(col, []).append(deparse(datum))
        elif spec.listdatums and len(keys) == 1:  # LIST
            out.setdefault(keys[0], []).extend(deparse(d) for d in spec.listdatums if isinstance(d, ast.A_Const))
    return out, partition_keys


CONSTRAINT_COLUMNS_SQL = """
SELECT a.attname FROM pg_constraint con
JOIN pg_attribute a ON a.attrelid = %(t)s::regclass AND a.attnum > 0
 AND a.attname IN (SELECT ca.attname FROM pg_attribute ca
                   WHERE ca.attrelid = con.conrelid AND ca.attnum = ANY (con.conkey))
WHERE con.conname = %(c)s
  AND (con.conrelid = %(t)s::regclass OR con.conrelid IN (SELECT relid FROM pg_partition_tree(%(t)s::regclass)))
UNION
SELECT a.attname FROM pg_index i JOIN pg_class ic ON ic.oid = i.indexrelid
JOIN pg_attribute a ON a.attrelid = %(t)s::regclass AND a.attnum > 0
 AND a.attname IN (SELECT ia.attname FROM pg_attribute ia WHERE ia.attrelid = i.indrelid AND ia.attnum = ANY (i.indkey))
WHERE ic.relname = %(c)s
  AND (i.indrelid = %(t)s::regclass OR i.indrelid IN (SELECT relid FROM pg_partition_tree(%(t)s::regclass)))
"""


def _blamed(conn: psycopg.Connection, table: str, exc: psycopg.Error, partition_keys: list[str]) -> list[str]:
    """The columns a failed insert is blamed on: those of the violated constraint or unique index
    (``diag.constraint_name``), or the partition key when no partition took a row."""
    name = exc.diag.constraint_name
    if name:
        return [r[0] for r in conn.execute(CONSTRAINT_COLUMNS_SQL, {"t": table, "c": name}).fetchall()]
    if exc.sqlstate == "23514":  # no partition for the row, or a partition's constraint
        return list(partition_keys)
    return []


def _parents(conn: psycopg.Connection, table: str) -> list[str]:
    return [r[1] for r in conn.execute(FKS_SQL, (table,)).fetchall()]


def seed_tables(conninfo: str, tables: list[str], rows: int = DEFAULT_ROWS) -> dict[str, int]:
    """Insert about ``rows`` sample rows into each of ``tables`` (qualified names; parents they
    reference by foreign key are seeded first, once). Returns rows inserted per table (0 when no
    attempt succeeded); tables that do not exist, or already have rows, are skipped."""
    done: dict[str, int] = {}
    with psycopg.connect(conninfo, autocommit=True) as conn:
        order: list[str] = []

        def visit(t: str, depth: int = 0) -> None:
            if t in order or depth > 10:
                return
            if conn.execute("SELECT to_regclass(%s)", (t,)).fetchone()[0] is None:
                return
            for parent in _parents(conn, t):
                if parent != t:
                    visit(parent, depth + 1)
            order.append(t)

        for t in tables:
            visit(t)
        for t in order:
            done[t] = _seed_one(conn, t, rows)
    return done


def _seed_one(conn: psycopg.Connection, table: str, rows: int) -> int:
    name = sql.SQL(_quoted(conn, table))
    if conn.execute(sql.SQL("SELECT EXISTS (SELECT FROM {})").format(name)).fetchone()[0]:
        return 0  # already has rows (seeded as a parent, or by the revisions)
    cols = {c[0]: c for c in conn.execute(COLUMNS_SQL, (table,)).fetchall()}
    candidates, partition_keys = _candidates(conn, table)
    joins, by_fk = _foreign_keys(conn, table)
    # how each column gets its value; a failed insert moves the columns it is blamed on along
    # default → generated → the constants of its constraints → NULL (where allowed)
    modes = {c: ("default" if col[5] else "generated") for c, col in cols.items()}

    def advance(column: str) -> bool:
        col = cols.get(column)
        if col is None or column in by_fk or col[6] or col[7]:
            return False
        order = ["default", "generated"] + (["constants"] if column in candidates else []) + \
                ([] if col[4] else ["null"])
        at = order.index(modes[column]) if modes[column] in order else len(order)
        if at + 1 >= len(order):
            return False
        modes[column] = order[at + 1]
        return True

    def value(column: str) -> sql.Composable | None:
        _name, fmt, typname, typtype, _notnull, _default, _identity, _generated, maxlen, typid = cols[column]
        mode = modes[column]
        if column in by_fk:
            return by_fk[column]
        if mode == "null":
            return sql.SQL("NULL")
        if mode == "constants":
            options = sql.SQL(", ").join(sql.SQL(v) for v in candidates[column])
            return sql.SQL("(ARRAY[{}]::{}[])[1 + (g % {})::int]").format(
                options, sql.SQL(fmt), sql.Literal(len(candidates[column])))
        return _value(conn, typname, typtype, typid, maxlen, column)

    def attempt(n: int) -> int | psycopg.Error | None:
        names: list[sql.Composable] = []
        values: list[sql.Composable] = []
        for column, col in cols.items():
            if col[6] or col[7] or (modes[column] == "default" and column not in by_fk):
                continue  # identity, generated, or its default
            v = value(column)
            if v is None:
                if col[4] and not col[5]:
                    return None  # NOT NULL of a type without a generated value
                continue
            names.append(sql.Identifier(column))
            values.append(v)
        stmt = sql.SQL("INSERT INTO {} ({}) SELECT {} FROM generate_series(1, {}) AS s(g){}").format(
            name, sql.SQL(", ").join(names), sql.SQL(", ").join(values), sql.Literal(n), sql.SQL("").join(joins)) \
            if names else sql.SQL("INSERT INTO {} SELECT FROM generate_series(1, {})").format(name, sql.Literal(n))
        try:
            return conn.execute(stmt).rowcount
        except psycopg.Error as exc:
            return exc

    for n in (rows, *(f for f in FEWER if f < rows)):
        for _ in range(4 * len(cols) + 1):
            result = attempt(n)
            if result is None:
                return 0
            if not isinstance(result, psycopg.Error):
                return result
            if not any([advance(c) for c in _blamed(conn, table, result, partition_keys)]):
                break  # nothing left to change for this size: fewer rows
    return 0


def _foreign_keys(conn: psycopg.Connection, table: str) -> tuple[list[sql.Composable], dict[str, sql.Composable]]:
    """One LEFT JOIN per foreign key spreading the rows over the referenced table's existing rows
    (row ``g`` takes parent row ``1 + (g - 1) % count``), and the value of each referencing column."""
    joins: list[sql.Composable] = []
    by_fk: dict[str, sql.Composable] = {}
    for i, (_oid, parent, child_cols, parent_cols) in enumerate(conn.execute(FKS_SQL, (table,)).fetchall()):
        alias = sql.Identifier(f"fk{i}")
        pcols = sql.SQL(", ").join(sql.Identifier(c) for c in parent_cols)
        parent_sql = sql.SQL(_quoted(conn, parent))
        joins.append(sql.SQL(
            " LEFT JOIN (SELECT {pcols}, row_number() OVER (ORDER BY {pcols}) AS rn FROM {parent} "
            "WHERE ({pcols}) IS NOT NULL) {alias} ON {alias}.rn = 1 + (g - 1) % "
            "(SELECT greatest(count(*), 1) FROM {parent})").format(pcols=pcols, parent=parent_sql, alias=alias))
        for child, pcol in zip(child_cols, parent_cols, strict=True):
            by_fk.setdefault(child, sql.SQL("{}.{}").format(alias, sql.Identifier(pcol)))
    return joins, by_fk


def _quoted(conn: psycopg.Connection, table: str) -> str:
    """``table`` (a name PostgreSQL resolves) as it prints from ``regclass`` (quoted as needed)."""
    return conn.execute("SELECT %s::regclass::text", (table,)).fetchone()[0]
