"""Rewrite raw SQL (``op.execute("…")``) into its online form, through pglast's syntax tree.

The SQL is parsed by PostgreSQL's own parser (pglast), the tree is changed (``concurrent = True``,
``skip_validation = True`` …) and printed back with pglast's printer. Nothing here matches SQL text
with regular expressions.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import pglast
from pglast import ast
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
    code: str | None = None  # Alembic code that runs ``sql`` (e.g. op.run_with_lock_timeout, op.backfill)


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
        if step.code:
            flush()
            lines.append(step.code)
        elif step.validate:
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





def deparse(node: ast.Node) -> str:
    """SQL text of a pglast node."""
    return RawStream()(node)


def _qualified(rv: ast.RangeVar) -> tuple[str, str | None]:
    return rv.relname, (rv.schemaname if rv.schemaname and rv.schemaname != "public" else None)


def rewrite_sql(sql: str, facts=None, *, server_version_num: int = 0, matview_has_unique_index=None,
                has_default_partition=None) -> SqlRewrite | None:
    """The online form of ``sql`` (a single statement), or None when it is already online or not a
    statement any recipe knows. Raises ``recipes.Refusal`` when it is
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
    return None


def statement_tables(sql: str) -> list[str]:
    """Qualified names of the relations an ALTER TABLE / CREATE INDEX / DROP … statement names."""
    nodes = parse_all(sql) or ()
    out = []
    for node in nodes:
        rel = getattr(node, "relation", None)
        if isinstance(rel, ast.RangeVar):
            out.append(range_name(rel))
    return out
