"""``op.drop_column`` of an existing table: refused, with an expand/contract plan."""

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
    return Outcome("drop-column", f"DROP COLUMN {table}.{column}",
                   refused="dropping a column breaks running code that still uses it; drop it after a deploy "
                           "that stopped using it", plan=plans.drop_column(table, schema, column))
