"""Small helpers shared by the rule modules: reading pglast nodes and the shadow's facts."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from pglast import ast

from ..locks import LOCK_STRENGTH, TABLE_KINDS
from ..model import Lock
from ..sql import alter_commands, constraint_kind, range_name, subtype
from .base import Context

VERSION_TABLES = ("alembic_version",)


def sql_text(node: Any) -> str:
    """A node printed back as SQL (``gen_random_uuid()``, ``price_cents > 0``)."""
    try:
        from pglast.stream import RawStream

        return RawStream()(node)
    except Exception:  # pragma: no cover - pglast prints every node it parsed
        return "…"


def names_of(obj: Any) -> str:
    """``schema.name`` (``public`` elided) from a DropStmt object (a tuple of String nodes)."""
    parts = [p.sval for p in (obj if isinstance(obj, (tuple, list)) else (obj,)) if hasattr(p, "sval")]
    if len(parts) >= 2 and parts[-2] == "public":
        parts = parts[-1:]
    return ".".join(parts[-2:])


def table_commands(ctx: Context, *kinds: str) -> list[tuple[str | None, Any]]:
    """``(table, AlterTableCmd)`` for each command of an ALTER TABLE whose subtype is in ``kinds``."""
    node = ctx.node
    if not isinstance(node, ast.AlterTableStmt):
        return []
    table = range_name(node.relation)
    return [(table, c) for c in alter_commands(node) if not kinds or subtype(c) in kinds]


def column_constraints(coldef: Any) -> list[tuple[str, Any]]:
    return [(constraint_kind(c), c) for c in (coldef.constraints or ()) if isinstance(c, ast.Constraint)]


def added_constraints(ctx: Context, *kinds: str) -> Iterator[tuple[str, str | None, Any, str]]:
    """``(table, column, constraint, kind)`` for each constraint of a kind in ``kinds`` (``CHECK``,
    ``FOREIGN``, ``UNIQUE``, ``PRIMARY``…) that an ALTER TABLE adds to a pre-existing table: by ADD
    CONSTRAINT (``column`` None) or inline in ADD COLUMN (``column``: the new column's name)."""
    for table, cmd in table_commands(ctx, "AT_AddConstraint", "AT_AddColumn"):
        if not ctx.preexisting(table):
            continue
        if cmd.subtype.name == "AT_AddConstraint":
            cons = [(None, cmd.def_)]
        else:
            cons = [(cmd.def_.colname, c) for _, c in column_constraints(cmd.def_)]
        for column, con in cons:
            kind = constraint_kind(con)
            if kind in kinds:
                yield table, column, con, kind


def failed(ctx: Context) -> bool:
    """The statement failed on the shadow (revision-fails reports it; its locks/scans mean little)."""
    return ctx.obs.error is not None


def is_version_table(name: str) -> bool:
    return name.split(".")[-1] in VERSION_TABLES


def table_lock(ctx: Context, table: str | None) -> str:
    """The strongest lock the trace saw on ``table`` (docs name), or ``ACCESS EXCLUSIVE``."""
    return ctx.strongest_lock(table) or "ACCESS EXCLUSIVE"


def held_from_before(ctx: Context, relation: str | None = None) -> list[Lock]:
    """Write-blocking locks on pre-existing tables still held from an earlier statement of the
    same transaction (taken before this statement, not released by a COMMIT)."""
    if not ctx.statement.in_transaction:
        return []
    new = {id(lk) for lk in ctx.obs.new_locks}
    out = []
    for lk in ctx.statement.own_locks():
        if id(lk) in new or not lk.dangerous or not lk.preexisting:
            continue
        if lk.kind not in TABLE_KINDS or is_version_table(lk.relation):
            continue
        if relation is not None and lk.relation != relation:
            continue
        out.append(lk)
    return sorted(out, key=lambda lk: -LOCK_STRENGTH.get(lk.mode, 0))


def where(lock: Lock, ctx: Context) -> str:
    """``line 24`` of the statement that took ``lock`` (this revision), else ``an earlier statement``."""
    for st in ctx.previous:
        if any(lk is lock for lk in st.observation.new_locks):
            return f"line {st.line}" if st.line else f"statement {st.index + 1}"
    return "an earlier statement"


def inner_contexts(ctx: Context) -> list[Context]:
    """A context per statement inside the statement's DO block or the bodies of the project's functions
    it called (sql/plpgsql.py), each with the statement's observation. A statement on an existing table
    that holds no lock on it after the block did not run on the shadow (an IF branch not taken: the
    shadow's schema is the one production has at this revision): left out, unless the locks were
    sampled (outside a transaction block, a lock can end before a sample sees it). Computed once per
    context."""
    if ctx.inner_cache is None:
        ctx.inner_cache = _inner_contexts(ctx)
    return ctx.inner_cache


def _inner_contexts(ctx: Context) -> list[Context]:
    import dataclasses

    from pglast.stream import RawStream

    from ..sql.plpgsql import body_statements, embedded_statements

    nodes = embedded_statements(ctx.node) + [
        node for language, code in ctx.statement.function_bodies for node in body_statements(language, code)]
    if not nodes:
        return []
    locked = {lk.relation for lk in ctx.obs.locks}
    out = []
    for node in nodes:
        named = [range_name(rv) for rv in _relations_named(node)]
        existing = [name for name in named if ctx.preexisting(name)]
        if existing and not ctx.obs.sampled and not any(name in locked for name in existing):
            continue
        try:
            sql = RawStream()(node)
        except Exception:  # noqa: BLE001 - a node the deparser does not know: the statement's own text
            sql = ctx.statement.sql
        out.append(dataclasses.replace(ctx, node=node, embedded_sql=sql))
    return out


def _relations_named(node: Any) -> list[Any]:
    """The RangeVars a statement acts on (its ``relation`` or ``relations``), not the ones it reads."""
    rel = getattr(node, "relation", None)
    if isinstance(rel, ast.RangeVar):
        return [rel]
    return [rv for rv in getattr(node, "relations", None) or () if isinstance(rv, ast.RangeVar)]
