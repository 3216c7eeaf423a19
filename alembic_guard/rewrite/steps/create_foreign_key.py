"""``op.create_foreign_key`` on an existing table → ``op.add_foreign_key_safely`` (NOT VALID, then VALIDATE)."""

from __future__ import annotations

from ..facts import Facts
from ..opcall import Call
from ..outcome import Outcome
from ._common import op_call, pystr, qualified, unquote


def rewrite(call: Call, facts: Facts) -> Outcome | None:
    table, schema = call.get("source_table"), call.get("source_schema")
    if table is None or not facts.preexisting(qualified(table, schema)):
        return None
    if call.get("postgresql_not_valid"):
        return None
    name = call.src("constraint_name")
    if name in (None, "None"):
        cols = call.get("local_cols") or []
        name = pystr(f"{table}_{'_'.join(cols)}_fkey")
    unknown = [k for k in call.kwargs if k != "postgresql_not_valid"]
    if unknown:
        return Outcome("add-foreign-key-not-valid", f"ADD FOREIGN KEY {name}",
                       refused=f"options {', '.join(unknown)} have no equivalent in op.add_foreign_key_safely")
    code = op_call("add_foreign_key_safely", name, call.src("source_table"), call.src("referent_table"),
                   call.src("local_cols"), call.src("remote_cols"), schema=call.src("source_schema"),
                   referent_schema=call.src("referent_schema"), ondelete=call.src("ondelete"),
                   onupdate=call.src("onupdate"), match=call.src("match"), deferrable=call.src("deferrable"),
                   initially=call.src("initially"))
    return Outcome("add-foreign-key-not-valid",
                   f"ADD FOREIGN KEY {unquote(name)} on {table} → NOT VALID (instant), then VALIDATE in its own "
                   "transaction (SHARE UPDATE EXCLUSIVE)", code=code)
