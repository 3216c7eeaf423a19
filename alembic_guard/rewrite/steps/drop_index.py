"""``op.drop_index`` → ``op.drop_index_concurrently`` (refused on a partitioned table)."""

from __future__ import annotations

from ..facts import Facts
from ..opcall import Call
from ..outcome import Outcome
from ._common import op_call, qualified, table_of, unquote


def rewrite(call: Call, facts: Facts) -> Outcome | None:
    in_transaction = bool(call.get("postgresql_concurrently"))  # fails inside the transaction: see create_index
    table, schema = table_of(call)
    if table is not None and not in_transaction and not facts.preexisting(qualified(table, schema)):
        return None
    if facts.relkind(qualified(table, schema)) == "p" if table else False:
        return Outcome("drop-index-concurrently", f"DROP INDEX {call.get('index_name')}",
                       refused="an index of a partitioned table cannot be dropped concurrently")
    code = op_call("drop_index_concurrently", call.src("index_name"), table_name=call.src("table_name"),
                   schema=call.src("schema"))
    return Outcome("drop-index-concurrently",
                   f"DROP INDEX {unquote(call.src('index_name'))} → op.drop_index_concurrently "
                   f"(no ACCESS EXCLUSIVE on {table or 'the table'})", code=code)
