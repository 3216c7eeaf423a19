"""Helpers shared by the rewrite steps: table names and literals of a Call, Python source fragments."""

from __future__ import annotations

from ..opcall import Call, literal

MAX_LINE = 100


def table_of(call: Call, key: str = "table_name", schema_key: str = "schema") -> tuple[str | None, str | None]:
    return call.get(key), call.get(schema_key)


def qualified(table: str | None, schema: str | None) -> str:
    return f"{schema}.{table}" if schema and schema != "public" else str(table)


def unquote(src: str | None) -> str:
    """The string a literal source stands for; other expressions (``op.f("ix")``) as written."""
    value = literal(src) if src else None
    if isinstance(value, str):
        return value
    if src and src.startswith("op.f("):
        return unquote(src[len("op.f("):-1])
    return src or "?"


def op_call(name: str, *args: str | None, **kwargs: str | None) -> str:
    """``op.<name>(args…, key=value…)`` from source fragments (None values are left out), wrapped
    one argument per line when longer than MAX_LINE."""
    parts = [a for a in args if a is not None] + [f"{k}={v}" for k, v in kwargs.items() if v is not None]
    one = f"op.{name}({', '.join(parts)})"
    if len(one) <= MAX_LINE and "\n" not in one:
        return one
    if len(parts) == 1:
        return f"op.{name}({parts[0]})"
    return f"op.{name}(\n" + "".join(f"    {p},\n" for p in parts) + ")"


def pystr(value: str) -> str:
    """A Python string literal, double-quoted like the rest of a revision file."""
    if value.isprintable() and "\\" not in value:
        return '"' + value.replace('"', '\\"') + '"'
    return repr(value)


def sql_list(statements: list[str]) -> str:
    if len(statements) == 1:
        return pystr(statements[0])
    return "[\n" + "".join(f"    {pystr(s)},\n" for s in statements) + "]"


def drop_if_true(value: str | None) -> str | None:
    return None if value in (None, "False", "None") else value
