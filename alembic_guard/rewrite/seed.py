"""Generic sample rows for a shadow database, generated from the column types.

A rewrite is proven on seeded tables: some statements behave differently on an empty table (SET NOT
NULL, a volatile default, a NOT VALID constraint). Rows are built from ``pg_attribute`` facts only:
every column without a default gets a value of its type; a foreign key column gets a value that
exists in the referenced table (parents are seeded first). A table whose insert fails (a CHECK the
generic values do not satisfy, an exotic type) is left without rows; seeding never raises for that.
"""

from __future__ import annotations

import psycopg
from psycopg import sql

COLUMNS_SQL = """
SELECT a.attname, format_type(a.atttypid, a.atttypmod), t.typname, t.typtype::text, a.attnotnull,
       (d.adbin IS NOT NULL) AS has_default, a.attidentity <> '' AS identity, a.attgenerated <> '' AS generated,
       CASE WHEN a.atttypmod > 4 AND t.typname IN ('varchar', 'bpchar') THEN a.atttypmod - 4 END AS maxlen,
       a.atttypid
FROM pg_attribute a JOIN pg_type t ON t.oid = a.atttypid
LEFT JOIN pg_attrdef d ON d.adrelid = a.attrelid AND d.adnum = a.attnum
WHERE a.attrelid = %s::regclass AND a.attnum > 0 AND NOT a.attisdropped
ORDER BY a.attnum
"""

FKS_SQL = """
SELECT a.attname, con.confrelid::regclass::text, fa.attname
FROM pg_constraint con
JOIN LATERAL unnest(con.conkey, con.confkey) AS k(child, parent) ON true
JOIN pg_attribute a ON a.attrelid = con.conrelid AND a.attnum = k.child
JOIN pg_attribute fa ON fa.attrelid = con.confrelid AND fa.attnum = k.parent
WHERE con.contype = 'f' AND con.conrelid = %s::regclass
"""

_INT = {"int2", "int4", "int8", "oid"}
_FLOAT = {"float4", "float8", "numeric", "money"}
_TEXT = {"text", "varchar", "bpchar", "name", "citext"}


def _value(typname: str, typtype: str, typid: int, maxlen: int | None, table: str, column: str, i: int,
           conn: psycopg.Connection) -> sql.Composable | None:
    """A SQL expression for row ``i`` of a column of this type, or None for unsupported types."""
    if typname in _INT:
        return sql.Literal(i + 1)
    if typname in _FLOAT:
        return sql.Literal(i + 1.5) if typname != "numeric" else sql.Literal(i + 1)
    if typname in _TEXT:
        text = f"{column[:3]}{i + 1}"
        if maxlen:
            text = text[-maxlen:]
        return sql.Literal(text)
    if typname == "bool":
        return sql.Literal(i % 2 == 0)
    if typname in ("timestamptz", "timestamp", "date", "time", "timetz"):
        return sql.SQL("(now() - {} * interval '1 day')::{}").format(sql.Literal(i), sql.SQL(typname))
    if typname == "interval":
        return sql.SQL("{} * interval '1 minute'").format(sql.Literal(i + 1))
    if typname == "uuid":
        return sql.SQL("gen_random_uuid()")
    if typname in ("json", "jsonb"):
        return sql.SQL("{}::{}").format(sql.Literal(f'{{"n": {i}}}'), sql.SQL(typname))
    if typname == "bytea":
        return sql.Literal(bytes([i % 256]))
    if typname in ("inet", "cidr"):
        return sql.SQL("{}::{}").format(sql.Literal(f"10.0.0.{i + 1}"), sql.SQL(typname))
    if typtype == "e":
        labels = conn.execute("SELECT enumlabel FROM pg_enum WHERE enumtypid = %s ORDER BY enumsortorder",
                              (typid,)).fetchall()
        if labels:
            return sql.SQL("{}::{}").format(sql.Literal(labels[i % len(labels)][0]),
                                            sql.SQL(conn.execute("SELECT %s::regtype::text", (typid,)).fetchone()[0]))
    if typname.startswith("_"):  # arrays: empty
        return sql.SQL("'{}'")
    return None


def _parents(conn: psycopg.Connection, table: str) -> list[str]:
    return [r[1] for r in conn.execute(FKS_SQL, (table,)).fetchall()]


def seed_tables(conninfo: str, tables: list[str], rows: int = 3) -> dict[str, int]:
    """Insert ``rows`` sample rows into each of ``tables`` (qualified names; parents they reference
    by foreign key are seeded first, once). Returns rows inserted per table (0 when its insert
    failed or a value could not be generated); tables that do not exist are skipped.
    """
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
    if conn.execute("SELECT count(*) FROM (SELECT 1 FROM " + _quoted(conn, table) + " LIMIT 1) s").fetchone()[0]:
        return 0  # already has rows (seeded as a parent, or by the revisions)
    cols = conn.execute(COLUMNS_SQL, (table,)).fetchall()
    fks = {r[0]: (r[1], r[2]) for r in conn.execute(FKS_SQL, (table,)).fetchall()}
    inserted = 0
    for i in range(rows):
        names: list[sql.Composable] = []
        values: list[sql.Composable] = []
        ok = True
        for name, _fmt, typname, typtype, notnull, has_default, identity, generated, maxlen, typid in cols:
            if generated or identity:
                continue
            if name in fks:
                parent, pcol = fks[name]
                names.append(sql.Identifier(name))
                parent_sql = sql.SQL(_quoted(conn, parent))
                values.append(sql.SQL("(SELECT {c} FROM {p} ORDER BY 1 OFFSET {i} % greatest(1, "
                                      "(SELECT count(*) FROM {p})) LIMIT 1)").format(
                    c=sql.Identifier(pcol), p=parent_sql, i=sql.Literal(i)))
                continue
            if has_default and not notnull:
                continue
            value = _value(typname, typtype, typid, maxlen, table, name, i, conn)
            if value is None:
                if notnull and not has_default:
                    ok = False
                    break
                continue
            names.append(sql.Identifier(name))
            values.append(value)
        if not ok:
            break
        stmt = sql.SQL("INSERT INTO {} ({}) VALUES ({})").format(
            sql.SQL(_quoted(conn, table)), sql.SQL(", ").join(names), sql.SQL(", ").join(values)) if names \
            else sql.SQL("INSERT INTO {} DEFAULT VALUES").format(sql.SQL(_quoted(conn, table)))
        try:
            conn.execute(stmt)
            inserted += 1
        except psycopg.Error:
            continue
    return inserted


def _quoted(conn: psycopg.Connection, table: str) -> str:
    """``table`` (a name PostgreSQL resolves) as it prints from ``regclass`` (quoted as needed)."""
    return conn.execute("SELECT %s::regclass::text", (table,)).fetchone()[0]
