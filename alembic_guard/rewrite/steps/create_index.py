"""``op.create_index`` on an existing table → ``op.create_index_concurrently``."""

from __future__ import annotations

from ..facts import Facts
from ..opcall import Call
from ..outcome import Outcome
from ._common import drop_if_true, op_call, qualified, table_of, unquote

#: create_index options → keyword of op.create_index_concurrently
MAPPED = {"postgresql_where": "where", "postgresql_using": "using", "postgresql_include": "include",
          "postgresql_nulls_not_distinct": "nulls_not_distinct"}


def rewrite(call: Call, facts: Facts) -> Outcome | None:
    # Already CONCURRENTLY (fix only looks at calls outside autocommit blocks): it fails inside the
    # migration transaction, so it is rewritten whatever the table; the op leaves the transaction.
    in_transaction = bool(call.get("postgresql_concurrently"))
    table, schema = table_of(call)
    if table is None or not (in_transaction or facts.preexisting(qualified(table, schema))):
        return None
    name = call.src("index_name")
    if name in (None, "None"):
        return Outcome("create-index-concurrently", "CREATE INDEX without a name",
                       refused="the index has no name; name it so that a rerun can find an INVALID leftover")
    unknown = [k for k in call.kwargs if k not in MAPPED and k != "postgresql_concurrently"]
    if unknown:
        return Outcome("create-index-concurrently", f"CREATE INDEX {call.get('index_name')}",
                       refused=f"options {', '.join(unknown)} have no equivalent in op.create_index_concurrently")
    extra = {MAPPED[k]: v.source for k, v in call.kwargs.items() if k in MAPPED}
    code = op_call("create_index_concurrently", name, call.src("table_name"), call.src("columns"),
                   schema=call.src("schema"), unique=drop_if_true(call.src("unique")), **extra)
    partitioned = facts.relkind(qualified(table, schema)) == "p"
    what = (f"CREATE INDEX {unquote(name)} on {table} → op.create_index_concurrently "
            + ("(ON ONLY the parent, CONCURRENTLY per partition, ATTACH)" if partitioned else
               "(SHARE UPDATE EXCLUSIVE: writes go on; an INVALID leftover is rebuilt)"))
    return Outcome("create-index-concurrently", what, code=code)
