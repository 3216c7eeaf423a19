"""``op.alter_column`` on an existing table: ``nullable=False`` → ``op.set_not_null_safely`` (other
changes of the call stay in an ``op.alter_column``). A rename and a rewriting type change are the
rename-column and change-type recipes' (alembic_guard/recipes)."""

from __future__ import annotations

from ..facts import Facts
from ..opcall import Call
from ..outcome import Outcome
from ._common import op_call, qualified, table_of


def rewrite(call: Call, facts: Facts) -> Outcome | None:
    table, schema = table_of(call)
    column = call.get("column_name")
    if table is None or not facts.preexisting(qualified(table, schema)):
        return None
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
