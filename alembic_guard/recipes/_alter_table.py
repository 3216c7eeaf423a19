"""Helpers shared by the ALTER TABLE recipes: one command of a statement rewritten, the others kept,
and the VALIDATE step in a transaction of its own.

Source: PostgreSQL docs, ALTER TABLE (https://www.postgresql.org/docs/current/sql-altertable.html):
``VALIDATE CONSTRAINT`` takes SHARE UPDATE EXCLUSIVE, but locks are held until COMMIT, so it must
not share a transaction with the ADD that took a stronger lock.
"""

from __future__ import annotations

import copy
from collections.abc import Callable

from pglast import ast

from ..rewrite.outcome import OPS_IMPORT
from ..rewrite.sqlrewrite import SqlStep, deparse, parse_all, render_steps
from ..sql.parse import quote_ident, range_name
from .base import Hint


def commands(node) -> list[ast.AlterTableCmd]:
    return [c for c in (node.cmds or ()) if isinstance(c, ast.AlterTableCmd)]


def find_command(node, wanted: Callable[[ast.AlterTableCmd], bool]) -> int | None:
    """The index of the one command of ``node`` that ``wanted`` picks (None: none, or several)."""
    hits = [i for i, c in enumerate(commands(node)) if wanted(c)]
    return hits[0] if len(hits) == 1 and len(commands(node)) == len(node.cmds or ()) else None


def with_commands(node, cmds: list) -> str:
    """``node`` deparsed with only ``cmds`` (the tree is copied, not changed)."""
    out = copy.deepcopy(node)
    out.cmds = tuple(cmds)
    return deparse(out)


def around(node, index: int, middle: list[SqlStep]) -> list[SqlStep]:
    """The statement's other commands before and after command ``index`` as statements of their own
    (in the original order), with ``middle``, the safe form of that command, between them."""
    cmds = commands(node)
    before = [SqlStep(with_commands(node, cmds[:index]))] if index else []
    after = [SqlStep(with_commands(node, cmds[index + 1:]))] if index + 1 < len(cmds) else []
    return before + middle + after


def relation_sql(node) -> str:
    return deparse(node.relation)


def table_and_schema(rv: ast.RangeVar) -> tuple[str, str | None]:
    return rv.relname, (rv.schemaname if rv.schemaname and rv.schemaname != "public" else None)


def statement(sql: str):
    """The one pglast statement of ``sql`` (built from quoted names and deparsed fragments)."""
    (node,) = parse_all(sql)
    return node


def validate_step(relation: ast.RangeVar, name: str) -> SqlStep:
    """VALIDATE CONSTRAINT in a transaction of its own (``op.validate_constraint``: the migration's
    transaction is committed first, so the lock the ADD took is gone while it scans)."""
    table, schema = table_and_schema(relation)
    return SqlStep(f"ALTER TABLE {deparse(relation)} VALIDATE CONSTRAINT {quote_ident(name)}",
                   validate=(name, table, schema))


def hint_of(steps: list[SqlStep], *notes: str) -> Hint:
    """The hint for ``steps``: what ``fix`` writes, with the import that registers alembic_guard.ops
    when a step uses one of them, and ``notes`` as comments at the end."""
    code = render_steps(steps)
    if "op.validate_constraint(" in code:
        code = OPS_IMPORT + "\n" + code
    return Hint(code="\n".join([code, *(f"# {n}" for n in notes)]))


def table_of(node) -> str:
    return range_name(node.relation)
