"""``op.alter_column`` on an existing table: rename and rewriting type change refused (with a plan),
``nullable=False`` → ``op.set_not_null_safely`` (other changes of the call stay in an ``op.alter_column``)."""

from __future__ import annotations

from .. import plans
from ..facts import Facts
from ..opcall import Call
from ..outcome import Outcome
from ._common import op_call, qualified, table_of


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
    if call.get("nullable") is False:
        others = {k: v for k, v in call.args.items()
                  if k not in ("table_name", "column_name", "schema", "nullable") and not k.startswith("existing_")}
        safe = op_call("set_not_null_safely", call.src("table_name"), call.src("column_name"),
                       schema=call.src("schema"))
        if others:
            rest = [v.source for k, v in call.args.items() if k in ("table_name", "column_name")]
            kw = {k: v.source for k, v in call.args.items() if k not in ("table_name", "column_name", "nullable")}
            kw.update({k: v.source for k, v in call.kwargs.items()})
            code = op_call("alter_column", *rest, **kw) + "\n" + safe
        else:
            code = safe
        return Outcome("set-not-null-via-check",
                       f"SET NOT NULL on {table}.{column} → op.set_not_null_safely (validated constraint first, "
                       "so SET NOT NULL does not scan under ACCESS EXCLUSIVE)", code=code)
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
