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
    """``lines`` (each may span several lines) inside ``with op.get_context().autocommit_block():``."""
    body = "\n".join("    " + ln for item in lines for ln in item.split("\n"))
    return "with op.get_context().autocommit_block():\n" + body


def q(name: str) -> str:
    """A (possibly schema-qualified) name as SQL, quoted where PostgreSQL needs it."""
    from ..sql import quote_ident

    return ".".join(quote_ident(p) for p in name.split("."))


def execute(sql: str) -> str:
    """``op.execute("…")`` for one SQL statement."""
    return f"op.execute({sql!r})" if '"' in sql else f'op.execute("{sql}")'


LOCK_TIMEOUT = "op.execute(\"SET LOCAL lock_timeout = '2s'\")"


def lines(*parts: str) -> str:
    """Join code lines/blocks, dropping empty ones."""
    return "\n".join(p for p in parts if p)


def constraint_name(table: str, *parts: str, suffix: str) -> str:
    base = table.split(".")[-1]
    name = "_".join([base, *parts, suffix]) if parts else f"{base}_{suffix}"
    return name[:63]


def not_null_via_check(table: str, column: str, *, pg_version: int = 0) -> str:
    """The set-not-null recipe's hint (alembic_guard/recipes/set_not_null.py) for ``table.column``."""
    from ..recipes import recipe
    from ..recipes.create_index import fresh
    from ..rewrite.facts import Facts

    node = fresh(f"ALTER TABLE {q(table)} ALTER COLUMN {q(column)} SET NOT NULL")
    return recipe("set-not-null").hint(node, Facts(server_version_num=pg_version)).text()


def concurrent_index(name: str, table: str, cols: list[str], *, unique: bool = False, node=None) -> str:
    """The create-index recipe's hint (alembic_guard/recipes/create_index.py) for an index ``name``
    on ``table``: ``node`` (a pglast IndexStmt) when there is one, else one built from the columns."""
    from ..recipes import recipe
    from ..recipes.create_index import fresh
    from ..rewrite.facts import Facts

    if node is None:
        node = fresh(f"CREATE {'UNIQUE ' if unique else ''}INDEX {q(name)} ON {q(table)} "
                     f"({', '.join(q(c) for c in cols)})")
    hint = recipe("create-index").hint(node, Facts(relkind=lambda t: "r"))
    return hint.text() if hint else ""
