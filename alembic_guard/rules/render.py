"""Render the safe alternative as Alembic code with the user's own names."""

from __future__ import annotations


def table_args(table: str) -> str:
    """``"orders"`` or ``"orders", schema="sales"`` for a qualified name."""
    if "." in table:
        schema, name = table.split(".", 1)
        return f"{name!r}, schema={schema!r}"
    return repr(table)


def table_kw(table: str, key: str = "table_name") -> str:
    if "." in table:
        schema, name = table.split(".", 1)
        return f"{key}={name!r}, schema={schema!r}"
    return f"{key}={table!r}"


def autocommit_block(*lines: str) -> str:
    body = "\n".join("    " + ln for ln in lines)
    return "with op.get_context().autocommit_block():\n" + body
