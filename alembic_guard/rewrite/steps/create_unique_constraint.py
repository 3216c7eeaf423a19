"""``op.create_unique_constraint`` on an existing table → ``op.add_unique_constraint_using_index``.

With ``primary=True`` it is the step of ``op.create_primary_key`` (``op.add_primary_key_using_index``).
"""

from __future__ import annotations

from ..facts import Facts
from ..opcall import Call
from ..outcome import Outcome
from ._common import op_call, pystr, qualified, table_of, unquote


def rewrite(call: Call, facts: Facts, primary: bool = False) -> Outcome | None:
    table, schema = table_of(call)
    if table is None or not facts.preexisting(qualified(table, schema)):
        return None
    kind = "add-primary-key-using-index" if primary else "add-unique-using-index"
    if facts.relkind(qualified(table, schema)) == "p":
        return Outcome(kind, f"{'PRIMARY KEY' if primary else 'UNIQUE'} on partitioned {table}",
                       refused="no concurrent build on a partitioned table: each partition needs its own "
                               "unique index first")
    cols = call.get("columns")
    name = call.src("constraint_name")
    if name in (None, "None"):
        if not isinstance(cols, (list, tuple)):
            return Outcome(kind, "unnamed constraint", refused="name the constraint")
        name = pystr(f"{table}_pkey" if primary else f"{table}_{'_'.join(cols)}_key")
    unknown = [k for k in call.kwargs if k not in ("deferrable", "initially")]
    if unknown:
        return Outcome(kind, f"constraint {unquote(name)}", refused=f"options {', '.join(unknown)} not supported")
    extra = {k: v.source for k, v in call.kwargs.items()}
    opname = "add_primary_key_using_index" if primary else "add_unique_constraint_using_index"
    code = op_call(opname, name, call.src("table_name"), call.src("columns"), schema=call.src("schema"), **extra)
    return Outcome(kind, f"{'PRIMARY KEY' if primary else 'UNIQUE'} {unquote(name)} on {table} → unique index "
                   "built CONCURRENTLY, then ADD CONSTRAINT … USING INDEX (instant)", code=code)
