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
    """CHECK (col IS NOT NULL) NOT VALID → VALIDATE outside the transaction → SET NOT NULL → drop CHECK."""
    ck = constraint_name(table, column, suffix="not_null")
    t, c = q(table), q(column)
    return lines(
        LOCK_TIMEOUT,
        f"op.create_check_constraint({ck!r}, {table_args(table)}, {f'{c} IS NOT NULL'!r},\n"
        f"                           postgresql_not_valid=True)",
        autocommit_block(
            "# SHARE UPDATE EXCLUSIVE only: reads and writes go on during the scan",
            execute(f"ALTER TABLE {t} VALIDATE CONSTRAINT {q(ck)}"),
        ),
        "# uses the validated CHECK instead of scanning (PostgreSQL >= 12)",
        LOCK_TIMEOUT,
        f"op.alter_column({table_args(table)}, {column!r}, nullable=False)",
        f"op.drop_constraint({ck!r}, {table_args(table)}, type_=\"check\")",
        f"# or in one call (alembic_guard.ops): op.set_not_null_safely({table_args(table)}, {column!r})",
    ) + (
        "\n# PostgreSQL 18 can also do it with one constraint:\n"
        f"#   ALTER TABLE {t} ADD CONSTRAINT {q(ck)} NOT NULL {c} NOT VALID;  -- then, outside the\n"
        f"#   transaction: ALTER TABLE {t} VALIDATE CONSTRAINT {q(ck)}"
        if pg_version >= 180000 else "")


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
