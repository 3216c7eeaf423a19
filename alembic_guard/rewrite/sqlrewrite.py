"""Rewrite raw SQL (``op.execute("…")``) into its online form, through pglast's syntax tree.

The SQL is parsed by PostgreSQL's own parser (pglast), the tree is changed (``concurrent = True``,
``skip_validation = True`` …) and printed back with pglast's printer. Nothing here matches SQL text
with regular expressions.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import pglast
from pglast import ast
from pglast.enums import AlterTableType, ConstrType, ObjectType, ReindexObjectType
from pglast.stream import RawStream

from ..sql.parse import range_name


def parse_all(sql: str) -> tuple | None:
    """Fresh pglast trees for ``sql`` (not the shared cache of alembic_guard.sql.parse: the rewrites
    here change the trees they get), or None when it does not parse."""
    try:
        return tuple(raw.stmt for raw in pglast.parse_sql(sql))
    except pglast.parser.ParseError:
        return None


@dataclass
class SqlStep:
    """One statement of a rewrite. ``autocommit``: must run outside a transaction block."""

    sql: str
    autocommit: bool = False
    validate: tuple[str, str, str | None] | None = None  # (constraint, table, schema): use op.validate_constraint


@dataclass
class SqlRewrite:
    """The online form of one SQL statement: ``steps`` in order, ``what`` says what changed."""

    what: str
    steps: list[SqlStep] = field(default_factory=list)


def render_steps(steps: list[SqlStep]) -> str:
    """Alembic code running ``steps`` in order: autocommit steps grouped in
    ``autocommit_block()``s, a VALIDATE as ``op.validate_constraint`` (alembic_guard.ops: its own
    transaction, lock_timeout, retries). The one rendering of a raw-SQL rewrite: ``fix`` writes it for
    ``op.execute`` and ``check`` prints it as the hint."""
    from .steps._common import op_call, pystr

    lines: list[str] = []
    block: list[str] = []

    def flush() -> None:
        if block:
            lines.append("with op.get_context().autocommit_block():\n" + "\n".join("    " + b for b in block))
            block.clear()

    for step in steps:
        if step.validate:
            flush()
            name, table, schema = step.validate
            lines.append(op_call("validate_constraint", pystr(name), pystr(table),
                                 schema=pystr(schema) if schema else None))
        elif step.autocommit:
            block.append(f"op.execute({pystr(step.sql)})")
        else:
            flush()
            lines.append(f"op.execute({pystr(step.sql)})")
    flush()
    return "\n".join(lines)


from ..recipes.base import Refusal as Unsupported  # noqa: E402  (the legacy name of a refusal)



def deparse(node: ast.Node) -> str:
    """SQL text of a pglast node."""
    return RawStream()(node)


def _qualified(rv: ast.RangeVar) -> tuple[str, str | None]:
    return rv.relname, (rv.schemaname if rv.schemaname and rv.schemaname != "public" else None)


def rewrite_sql(sql: str, facts=None, *, server_version_num: int = 0, matview_has_unique_index=None,
                has_default_partition=None) -> SqlRewrite | None:
    """The online form of ``sql`` (a single statement), or None when it is already online or not a
    statement any recipe knows. Raises ``recipes.Refusal`` (or the legacy Unsupported) when it is
    known but cannot be made online (e.g. an unnamed constraint, a matview without a unique index).

    ``facts`` (rewrite.facts.Facts) answers the catalog questions; without it one is built from
    ``server_version_num``, ``matview_has_unique_index(name) -> bool`` and
    ``has_default_partition(table) -> bool`` (None means "assume no").
    """
    nodes = parse_all(sql)
    if not nodes or len(nodes) != 1:
        return None
    node = nodes[0]
    if facts is None:
        from .facts import Facts

        facts = Facts(server_version_num=server_version_num, matview_has_unique_index=matview_has_unique_index,
                      has_default_partition=has_default_partition)
    from ..recipes import for_node

    for r in for_node(node):
        rw = r.rewrite_sql(node, facts)
        if rw is not None:
            return rw
    server_version_num = facts.server_version_num
    matview_has_unique_index = facts.matview_has_unique_index
    if isinstance(node, ast.IndexStmt):
        return _create_index(node)
    if isinstance(node, ast.DropStmt) and node.removeType == ObjectType.OBJECT_INDEX:
        return _drop_index(node)
    if isinstance(node, ast.RefreshMatViewStmt):
        return _refresh(node, matview_has_unique_index)
    if isinstance(node, ast.ReindexStmt):
        return _reindex(node, server_version_num)
    return None


def _create_index(node: ast.IndexStmt) -> SqlRewrite | None:
    if node.concurrent:
        return None
    if not node.idxname:
        raise Unsupported("the CREATE INDEX has no name: name the index so that a rerun can find and "
                          "drop an INVALID leftover")
    table, schema = _qualified(node.relation)
    if not node.relation.inh:
        raise Unsupported("CREATE INDEX … ON ONLY builds no index on the partitions; it needs no CONCURRENTLY")
    node.concurrent = True
    node.if_not_exists = False
    drop = _drop_index_sql(([schema] if schema else []) + [node.idxname])
    return SqlRewrite(
        what=f"CREATE INDEX {node.idxname} on {table} → CONCURRENTLY, outside the transaction "
             "(an INVALID leftover of an interrupted run is dropped first)",
        steps=[SqlStep(drop, autocommit=True), SqlStep(deparse(node), autocommit=True)])


def _drop_index_sql(parts: list[str]) -> str:
    """``DROP INDEX CONCURRENTLY IF EXISTS <name>`` for a (schema, name) / (name) list, checked by the parser."""
    from pglast.stream import maybe_double_quote_name as q

    sql = "DROP INDEX CONCURRENTLY IF EXISTS " + ".".join(q(p) for p in parts)
    return deparse(parse_all(sql)[0])


def _drop_index(node: ast.DropStmt) -> SqlRewrite | None:
    if node.concurrent:
        return None
    if node.behavior and getattr(node.behavior, "name", str(node.behavior)).endswith("CASCADE"):
        raise Unsupported("DROP INDEX … CASCADE cannot run CONCURRENTLY")
    steps = []
    names = []
    for obj in node.objects:
        parts = [s.sval for s in obj]
        steps.append(SqlStep(_drop_index_sql(parts), autocommit=True))
        names.append(".".join(parts))
    return SqlRewrite(what=f"DROP INDEX {', '.join(names)} → CONCURRENTLY IF EXISTS, outside the transaction",
                      steps=steps)


def _refresh(node: ast.RefreshMatViewStmt, has_unique) -> SqlRewrite | None:
    if node.concurrent:
        return None
    if node.skipData:
        return None  # WITH NO DATA empties the view: nothing to do concurrently
    name = range_name(node.relation)
    if has_unique is None or not has_unique(name):
        raise Unsupported(f"REFRESH MATERIALIZED VIEW {name} CONCURRENTLY needs a unique index on the view "
                          "without a WHERE clause (and a populated view); create one first")
    node.concurrent = True
    return SqlRewrite(what=f"REFRESH MATERIALIZED VIEW {name} → CONCURRENTLY (EXCLUSIVE instead of "
                           "ACCESS EXCLUSIVE: readers of the view go on)", steps=[SqlStep(deparse(node))])


def _reindex(node: ast.ReindexStmt, version: int) -> SqlRewrite | None:
    if version and version < 120000:
        raise Unsupported("REINDEX CONCURRENTLY needs PostgreSQL 12")
    params = list(node.params or ())
    if any(isinstance(p, ast.DefElem) and p.defname == "concurrently" for p in params):
        return None
    if node.kind in (ReindexObjectType.REINDEX_OBJECT_SYSTEM,):
        raise Unsupported("system catalogs cannot be reindexed concurrently")
    params.append(parse_all("REINDEX (CONCURRENTLY) INDEX x")[0].params[0])
    node.params = params
    target = range_name(node.relation) if node.relation else node.name
    return SqlRewrite(what=f"REINDEX {target} → CONCURRENTLY, outside the transaction",
                      steps=[SqlStep(deparse(node), autocommit=True)])


def add_column_parts(sql: str) -> tuple[str, str | None, bool, str | None] | None:
    """For ``ALTER TABLE t ADD COLUMN c type [DEFAULT d] [NOT NULL]`` (one command): the statement
    without DEFAULT and NOT NULL and with IF NOT EXISTS, the column name, whether it was NOT NULL,
    and the default expression (SQL) — or None when ``sql`` is something else or the column has
    other constraints (inline UNIQUE, PRIMARY KEY, REFERENCES, CHECK, GENERATED, IDENTITY)."""
    nodes = parse_all(sql)
    if not nodes or len(nodes) != 1 or not isinstance(nodes[0], ast.AlterTableStmt):
        return None
    node = nodes[0]
    cmds = list(node.cmds or ())
    if len(cmds) != 1 or cmds[0].subtype != AlterTableType.AT_AddColumn:
        return None
    coldef = cmds[0].def_
    default = None
    not_null = False
    kept = []
    for con in coldef.constraints or ():
        if con.contype == ConstrType.CONSTR_DEFAULT:
            default = deparse(con.raw_expr)
        elif con.contype == ConstrType.CONSTR_NOTNULL:
            not_null = True
        elif con.contype == ConstrType.CONSTR_NULL:
            continue
        else:
            return None
    coldef.constraints = kept or None
    cmds[0].missing_ok = True
    return deparse(node), default, not_null, coldef.colname


def set_default_sql(table_sql_from: str, column: str, default: str) -> str:
    """``ALTER TABLE <same table as table_sql_from> ALTER COLUMN column SET DEFAULT default``."""
    node = parse_all(table_sql_from)[0]
    from pglast.stream import maybe_double_quote_name as q

    return f"ALTER TABLE {deparse(node.relation)} ALTER COLUMN {q(column)} SET DEFAULT {default}"


def statement_tables(sql: str) -> list[str]:
    """Qualified names of the relations an ALTER TABLE / CREATE INDEX / DROP … statement names."""
    nodes = parse_all(sql) or ()
    out = []
    for node in nodes:
        rel = getattr(node, "relation", None)
        if isinstance(rel, ast.RangeVar):
            out.append(range_name(rel))
    return out
