"""Compare two databases' schemas through ``pg_catalog`` (not SQL text).

Used to prove a rewrite: the original revision and its rewrite are applied from the same base on two
scratch databases of one shadow server, and the final catalogs must be equal.

What is compared (user schemas only, i.e. not ``pg_catalog``, ``information_schema``, ``pg_toast``):

- relations: tables, partitioned tables, views, materialized views, sequences — kind, persistence,
  row level security (enabled / forced), partition key, partition parent and bound;
- columns: position among live columns, type (``format_type``), NOT NULL, default expression,
  identity, generated expression, collation;
- constraints: kind, definition (``pg_get_constraintdef``), validity (``convalidated``), deferrable;
- indexes: definition (``pg_get_indexdef``), valid / ready, the constraint that owns it;
- triggers (non-internal) by definition, row level security policies, enum types with labels;
- view and materialized view definitions (``pg_get_viewdef``);
- sequences: type, start, increment, bounds, cache, cycle (``pg_sequence``);
- functions and procedures by name and argument types, with their definition
  (``pg_get_functiondef``), except those an extension owns (``pg_depend.deptype = 'e'``).

Helper CHECK constraints that a rewrite uses to set NOT NULL without a scan are dropped by the
rewrite; if one is left behind, a ``CHECK ((col IS NOT NULL))`` is matched by table and definition,
not by name (``normalise_not_null_checks``).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import psycopg

_USER = "n.nspname NOT IN ('pg_catalog', 'information_schema') AND n.nspname NOT LIKE 'pg\\_%'"

RELATIONS_SQL = f"""
SELECT n.nspname, c.relname, c.relkind::text, c.relpersistence::text, c.relrowsecurity, c.relforcerowsecurity,
       CASE WHEN c.relkind = 'p' THEN pg_get_partkeydef(c.oid) END,
       (SELECT pn.nspname || '.' || pc.relname FROM pg_inherits i JOIN pg_class pc ON pc.oid = i.inhparent
          JOIN pg_namespace pn ON pn.oid = pc.relnamespace WHERE i.inhrelid = c.oid AND c.relispartition),
       pg_get_expr(c.relpartbound, c.oid),
       CASE WHEN c.relkind IN ('v', 'm') THEN pg_get_viewdef(c.oid) END
FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE c.relkind IN ('r', 'p', 'v', 'm', 'S', 'f') AND {_USER}
"""

COLUMNS_SQL = f"""
SELECT n.nspname, c.relname, a.attname,
       row_number() OVER (PARTITION BY c.oid ORDER BY a.attnum),
       format_type(a.atttypid, a.atttypmod), a.attnotnull,
       CASE WHEN a.attgenerated = '' THEN pg_get_expr(d.adbin, d.adrelid) END,
       a.attidentity::text, a.attgenerated::text,
       CASE WHEN a.attgenerated <> '' THEN pg_get_expr(d.adbin, d.adrelid) END,
       CASE WHEN a.attcollation <> 0 AND a.attcollation <> t.typcollation THEN co.collname END
FROM pg_attribute a
JOIN pg_class c ON c.oid = a.attrelid
JOIN pg_namespace n ON n.oid = c.relnamespace
JOIN pg_type t ON t.oid = a.atttypid
LEFT JOIN pg_attrdef d ON d.adrelid = a.attrelid AND d.adnum = a.attnum
LEFT JOIN pg_collation co ON co.oid = a.attcollation
WHERE a.attnum > 0 AND NOT a.attisdropped AND c.relkind IN ('r', 'p', 'v', 'm', 'f') AND {_USER}
"""

CONSTRAINTS_SQL = f"""
SELECT n.nspname, coalesce(c.relname, ''), con.conname, con.contype::text, pg_get_constraintdef(con.oid),
       con.convalidated, con.condeferrable, con.condeferred
FROM pg_constraint con
JOIN pg_namespace n ON n.oid = con.connamespace
LEFT JOIN pg_class c ON c.oid = con.conrelid
WHERE {_USER} AND (con.conrelid <> 0 OR con.contypid <> 0)
"""

INDEXES_SQL = f"""
SELECT n.nspname, ic.relname, tc.relname, pg_get_indexdef(i.indexrelid), i.indisvalid, i.indisready,
       i.indisprimary, i.indisunique,
       (SELECT con.conname FROM pg_constraint con WHERE con.conindid = i.indexrelid AND con.conrelid = i.indrelid
          AND con.contype IN ('p', 'u', 'x') LIMIT 1)
FROM pg_index i
JOIN pg_class ic ON ic.oid = i.indexrelid
JOIN pg_class tc ON tc.oid = i.indrelid
JOIN pg_namespace n ON n.oid = ic.relnamespace
WHERE {_USER}
"""

TRIGGERS_SQL = f"""
SELECT n.nspname, c.relname, t.tgname, pg_get_triggerdef(t.oid), t.tgenabled::text
FROM pg_trigger t JOIN pg_class c ON c.oid = t.tgrelid JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE NOT t.tgisinternal AND {_USER}
"""

POLICIES_SQL = f"""
SELECT n.nspname, c.relname, p.polname, p.polcmd::text, p.polpermissive,
       ARRAY(SELECT CASE WHEN r = 0 THEN 'public' ELSE pg_get_userbyid(r) END FROM unnest(p.polroles) r ORDER BY 1),
       pg_get_expr(p.polqual, p.polrelid), pg_get_expr(p.polwithcheck, p.polrelid)
FROM pg_policy p JOIN pg_class c ON c.oid = p.polrelid JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE {_USER}
"""

ENUMS_SQL = f"""
SELECT n.nspname, t.typname, ARRAY(SELECT e.enumlabel FROM pg_enum e WHERE e.enumtypid = t.oid
                                   ORDER BY e.enumsortorder)
FROM pg_type t JOIN pg_namespace n ON n.oid = t.typnamespace
WHERE t.typtype = 'e' AND {_USER}
"""

SEQUENCES_SQL = f"""
SELECT n.nspname, c.relname, format_type(s.seqtypid, NULL), s.seqstart, s.seqincrement, s.seqmin, s.seqmax,
       s.seqcache, s.seqcycle
FROM pg_sequence s JOIN pg_class c ON c.oid = s.seqrelid JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE {_USER}
"""

# prokind 'f' (function) and 'p' (procedure): pg_get_functiondef rejects aggregates
FUNCTIONS_SQL = f"""
SELECT n.nspname, p.proname || '(' || pg_get_function_identity_arguments(p.oid) || ')', pg_get_functiondef(p.oid)
FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace
WHERE p.prokind IN ('f', 'p') AND {_USER}
  AND NOT EXISTS (SELECT 1 FROM pg_depend d WHERE d.classid = 'pg_proc'::regclass AND d.objid = p.oid
                  AND d.deptype = 'e')
"""


@dataclass(frozen=True)
class Difference:
    """One difference between two snapshots ``a`` and ``b``.

    ``section`` is a CatalogSnapshot section, ``what`` its singular ("index"), ``label`` the dotted
    name; ``kind`` is ``only_a`` / ``only_b`` (the object exists on one side) or ``changed`` (then
    ``fact`` names the fact, ``a`` / ``b`` its two values); ``owner``: the relation key it belongs
    to (a column's table, an index's table, a sequence's own relation), None for relations, enums and
    functions."""

    section: str
    key: tuple
    kind: str
    fact: str | None = None
    a: Any = None
    b: Any = None
    owner: tuple | None = None

    @property
    def what(self) -> str:
        return _SINGULAR[self.section]

    @property
    def label(self) -> str:
        return ".".join(str(p) for p in self.key)


@dataclass
class CatalogSnapshot:
    """A database's schema as plain, comparable data.

    Every section maps a key (a tuple of names) to a tuple of facts; ``server_version`` is
    ``server_version`` of the server it was read from.
    """

    relations: dict[tuple, tuple] = field(default_factory=dict)
    columns: dict[tuple, tuple] = field(default_factory=dict)
    constraints: dict[tuple, tuple] = field(default_factory=dict)
    indexes: dict[tuple, tuple] = field(default_factory=dict)
    triggers: dict[tuple, tuple] = field(default_factory=dict)
    policies: dict[tuple, tuple] = field(default_factory=dict)
    enums: dict[tuple, tuple] = field(default_factory=dict)
    sequences: dict[tuple, tuple] = field(default_factory=dict)
    functions: dict[tuple, tuple] = field(default_factory=dict)
    server_version: str = ""
    index_tables: dict[tuple, tuple] = field(default_factory=dict)  # index key → its table's key

    SECTIONS = ("relations", "columns", "constraints", "indexes", "triggers", "policies", "enums", "sequences",
                "functions")


# Names of the facts in each section, for readable differences.
_FACTS = {
    "relations": ("kind", "persistence", "row level security", "forced row level security", "partition key",
                  "partition of", "partition bound", "definition"),
    "columns": ("position", "type", "not null", "default", "identity", "generated", "generation expression",
                "collation"),
    "constraints": ("type", "definition", "validated", "deferrable", "deferred"),
    "indexes": ("definition", "valid", "ready", "primary", "unique", "constraint"),
    "triggers": ("definition", "enabled"),
    "policies": ("command", "permissive", "roles", "using", "with check"),
    "enums": ("labels",),
    "sequences": ("type", "start", "increment", "minimum", "maximum", "cache", "cycle"),
    "functions": ("definition",),
}
_SINGULAR = {"relations": "relation", "columns": "column", "constraints": "constraint", "indexes": "index",
             "triggers": "trigger", "policies": "policy", "enums": "enum type", "sequences": "sequence",
             "functions": "function"}


def _rows(conn: psycopg.Connection, sql: str) -> list[tuple]:
    return [tuple(r) for r in conn.execute(sql).fetchall()]


def _name(schema: str, *parts: str) -> tuple:
    return tuple(p for p in ((None if schema == "public" else schema), *parts) if p is not None)


def read_catalog(conninfo: str, *, ignore_tables: tuple[str, ...] = ("alembic_version",)) -> CatalogSnapshot:
    """Read the schema of the database at ``conninfo`` (a libpq conninfo string).

    ``ignore_tables`` are left out entirely (by table name, any schema). Raises psycopg.Error when
    the database cannot be reached.
    """
    snap = CatalogSnapshot()
    ignored = set(ignore_tables)
    with psycopg.connect(conninfo, autocommit=True) as conn:
        snap.server_version = conn.execute("SHOW server_version").fetchone()[0]
        for schema, name, *facts in _rows(conn, RELATIONS_SQL):
            if name not in ignored:
                snap.relations[_name(schema, name)] = tuple(facts)
        for schema, table, col, *facts in _rows(conn, COLUMNS_SQL):
            if table not in ignored:
                snap.columns[_name(schema, table, col)] = tuple(facts)
        for schema, table, con, *facts in _rows(conn, CONSTRAINTS_SQL):
            if table not in ignored:
                snap.constraints[_name(schema, table, con)] = tuple(facts)
        for schema, index, table, *facts in _rows(conn, INDEXES_SQL):
            if table not in ignored:
                snap.indexes[_name(schema, index)] = tuple(facts)
                snap.index_tables[_name(schema, index)] = _name(schema, table)
        for schema, table, trg, *facts in _rows(conn, TRIGGERS_SQL):
            snap.triggers[_name(schema, table, trg)] = tuple(facts)
        for schema, table, pol, cmd, perm, roles, qual, check in _rows(conn, POLICIES_SQL):
            snap.policies[_name(schema, table, pol)] = (cmd, perm, tuple(roles), qual, check)
        for schema, typ, labels in _rows(conn, ENUMS_SQL):
            snap.enums[_name(schema, typ)] = (tuple(labels),)
        for schema, name, *facts in _rows(conn, SEQUENCES_SQL):
            snap.sequences[_name(schema, name)] = tuple(facts)
        for schema, name, *facts in _rows(conn, FUNCTIONS_SQL):
            snap.functions[_name(schema, name)] = tuple(facts)
    return snap


def _is_not_null_check(facts: tuple) -> bool:
    """A CHECK whose whole definition is ``CHECK ((<col> IS NOT NULL))``: the helper of a rewrite."""
    if facts[0] != "c":
        return False
    from pglast import ast
    from pglast.enums import NullTestType

    from .sql.parse import parse_one

    node = parse_one(f"SELECT 1 WHERE {facts[1][len('CHECK '):].removesuffix(' NOT VALID')}")
    where = getattr(node, "whereClause", None)
    return isinstance(where, ast.NullTest) and where.nulltesttype == NullTestType.IS_NOT_NULL \
        and isinstance(where.arg, ast.ColumnRef)


def normalise_not_null_checks(snap: CatalogSnapshot) -> dict[tuple, tuple]:
    """Constraints with helper ``CHECK ((col IS NOT NULL))`` constraints keyed by table and
    definition instead of by name (so a differently named helper still compares equal)."""
    out: dict[tuple, tuple] = {}
    for key, facts in snap.constraints.items():
        if _is_not_null_check(facts):
            out[(*key[:-1], "<not-null check>", facts[1])] = facts
        else:
            out[key] = facts
    return out


def catalog_differences(a: CatalogSnapshot, b: CatalogSnapshot, *,
                        ignore_facts: dict[str, set[str]] | None = None) -> list[Difference]:
    """Every difference between two snapshots, sorted by section and name; ``[]``: equal schemas.

    ``ignore_facts`` (section → fact names, e.g. ``{"columns": {"position"}}``) leaves those facts
    out of the comparison."""
    ignore_facts = ignore_facts or {}
    out: list[Difference] = []
    for section in CatalogSnapshot.SECTIONS:
        if section == "constraints":
            left, right = normalise_not_null_checks(a), normalise_not_null_checks(b)
        else:
            left, right = getattr(a, section), getattr(b, section)
        skip = ignore_facts.get(section, set())
        for key in sorted(set(left) | set(right), key=lambda k: tuple(map(str, k))):
            owner = _owner(section, key, a, b)
            if key not in right:
                out.append(Difference(section, key, "only_a", owner=owner))
            elif key not in left:
                out.append(Difference(section, key, "only_b", owner=owner))
            elif left[key] != right[key]:
                for fact, x, y in zip(_FACTS[section], left[key], right[key], strict=False):
                    if x != y and fact not in skip:
                        out.append(Difference(section, key, "changed", fact, x, y, owner=owner))
    return out


def _owner(section: str, key: tuple, a: CatalogSnapshot, b: CatalogSnapshot) -> tuple | None:
    if section in ("columns", "constraints", "triggers", "policies"):
        return key[:-1] if key[-1] != "<not-null check>" else key[:-2]
    if section == "indexes":
        return a.index_tables.get(key) or b.index_tables.get(key)
    if section == "sequences":
        return key  # a sequence is also a relation: its facts belong to it
    return None


def compare_catalogs(a: CatalogSnapshot, b: CatalogSnapshot, *, a_name: str = "original",
                     b_name: str = "rewrite") -> list[str]:
    """Differences between two snapshots as readable sentences; ``[]`` means the schemas are equal."""
    diffs: list[str] = []
    for d in catalog_differences(a, b):
        if d.kind == "only_a":
            diffs.append(f"{d.what} {d.label} exists only in the {a_name}")
        elif d.kind == "only_b":
            diffs.append(f"{d.what} {d.label} exists only in the {b_name}")
        else:
            diffs.append(f"{d.what} {d.label}: {d.fact} is {show(d.a)} in the {a_name}, {show(d.b)} in the {b_name}")
    return diffs


def show(value: Any) -> str:
    if value is None:
        return "none"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, tuple):
        return "[" + ", ".join(map(str, value)) + "]"
    return repr(value) if isinstance(value, str) else str(value)
