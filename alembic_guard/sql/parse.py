"""Parse statements with pglast and read the parts rules need."""

from __future__ import annotations

import functools
from typing import Any

import pglast
from pglast import ast
from pglast.parser import ParseError


@functools.lru_cache(maxsize=4096)
def parse_all(sql: str) -> tuple[Any, ...] | None:
    """All statements of ``sql`` as pglast nodes, or None when it does not parse (e.g. bind params)."""
    try:
        return tuple(raw.stmt for raw in pglast.parse_sql(sql))
    except ParseError:
        return None


def parse_one(sql: str) -> Any | None:
    """The single statement in ``sql`` (the first if several), or None."""
    nodes = parse_all(sql)
    return nodes[0] if nodes else None


def parse_error(sql: str) -> tuple[str, int] | None:
    """``(message, character position)`` when ``sql`` is not valid PostgreSQL syntax."""
    try:
        pglast.parse_sql(sql)
    except ParseError as exc:
        return exc.args[0], exc.location if hasattr(exc, "location") else 0
    return None


def range_name(rv: Any) -> str | None:
    """``schema.name`` of a RangeVar, ``public`` elided (matches model.Relation.qualified)."""
    if rv is None:
        return None
    if rv.schemaname and rv.schemaname != "public":
        return f"{rv.schemaname}.{rv.relname}"
    return rv.relname


def subtype(cmd: Any) -> str:
    """AlterTableCmd subtype name, e.g. ``AT_AddColumn``."""
    st = cmd.subtype
    return st.name if hasattr(st, "name") else str(st)


def alter_commands(node: Any) -> list[Any]:
    """The AlterTableCmd list of an ALTER TABLE statement, else []."""
    if isinstance(node, ast.AlterTableStmt):
        return [c for c in (node.cmds or ()) if isinstance(c, ast.AlterTableCmd)]
    return []


def constraint_kind(con: Any) -> str:
    """ConstrType name without prefix: ``FOREIGN``, ``CHECK``, ``UNIQUE``, ``PRIMARY``, ``NOTNULL``…"""
    ct = con.contype
    name = ct.name if hasattr(ct, "name") else str(ct)
    return name.replace("CONSTR_", "")


def type_name(tn: Any) -> str:
    """A readable type name from a TypeName node, e.g. ``bigint`` or ``varchar(200)``."""
    if tn is None:
        return ""
    try:
        from pglast.stream import RawStream

        return RawStream()(tn)
    except Exception:
        return ".".join(n.sval for n in tn.names if hasattr(n, "sval"))


def quote_ident(name: str) -> str:
    """Quote an identifier only when PostgreSQL needs it."""
    from pglast.stream import maybe_double_quote_name

    return maybe_double_quote_name(name)
