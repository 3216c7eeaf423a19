"""``op.create_check_constraint`` on an existing table → ``op.add_check_constraint_safely``."""

from __future__ import annotations

from ..facts import Facts
from ..opcall import Call
from ..outcome import Outcome
from ._common import op_call, qualified, table_of, unquote


def rewrite(call: Call, facts: Facts) -> Outcome | None:
    table, schema = table_of(call)
    if table is None or not facts.preexisting(qualified(table, schema)) or call.get("postgresql_not_valid"):
        return None
    name = call.src("constraint_name")
    if name in (None, "None"):
        return Outcome("add-check-not-valid", "ADD CHECK without a name",
                       refused="the CHECK constraint has no name; name it so it can be validated separately")
    code = op_call("add_check_constraint_safely", name, call.src("table_name"), call.src("condition"),
                   schema=call.src("schema"))
    return Outcome("add-check-not-valid", f"ADD CHECK {unquote(name)} on {table} → NOT VALID (instant), then "
                   "VALIDATE in its own transaction (SHARE UPDATE EXCLUSIVE)", code=code)
