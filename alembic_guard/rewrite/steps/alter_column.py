"""``op.alter_column`` on an existing table: rename and rewriting type change refused (with a plan)
(``nullable=False``: alembic_guard/recipes/set_not_null.py)."""

from __future__ import annotations

from .. import plans
from ..facts import Facts
from ..opcall import Call
from ..outcome import Outcome
from ._common import qualified, table_of


def rewrite(call: Call, facts: Facts) -> Outcome | None:
    table, schema = table_of(call)
    column = call.get("column_name")
    if table is None or not facts.preexisting(qualified(table, schema)):
        return None
    table_q = qualified(table, schema)
    if call.src("new_column_name") not in (None, "None"):
        return Outcome("rename-column", f"RENAME {table}.{column} → {call.get('new_column_name')}",
                       refused="renaming a column breaks every running instance that still uses the old name",
                       plan=plans.rename_column(table, schema, column, call.get("new_column_name"),
                                                call.src("existing_type")))
    type_src = call.src("type_")
    if type_src not in (None, "None"):
        rewrites = facts.rewritten is not None and table_q in facts.rewritten
        if rewrites:
            new_sql = type_sql_from(facts.statements)
            return Outcome("rewriting-type-change", f"ALTER {table}.{column} TYPE {type_src}",
                           refused=f"the type change rewrites {table} and all its indexes under ACCESS EXCLUSIVE",
                           plan=plans.change_type(table, schema, column, type_src, new_sql))
    return None


def type_sql_from(statements: list[str]) -> str | None:
    """The new column type (SQL) of the first ``ALTER … TYPE`` among ``statements``."""
    from pglast import ast

    from ...sql.parse import alter_commands, parse_one, type_name

    for sql in statements:
        for cmd in alter_commands(parse_one(sql)):
            if isinstance(cmd.def_, ast.ColumnDef) and cmd.def_.typeName is not None:
                return type_name(cmd.def_.typeName)
    return None
