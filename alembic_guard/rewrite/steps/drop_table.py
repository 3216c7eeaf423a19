"""``op.drop_table`` of an existing table: refused, with an expand/contract plan."""

from __future__ import annotations

from .. import plans
from ..facts import Facts
from ..opcall import Call
from ..outcome import Outcome
from ._common import qualified, table_of


def rewrite(call: Call, facts: Facts) -> Outcome | None:
    table, schema = table_of(call)
    if table is None or not facts.preexisting(qualified(table, schema)):
        return None
    return Outcome("drop-table", f"DROP TABLE {table}",
                   refused="dropping a table takes ACCESS EXCLUSIVE on it and on every table it references, and "
                           "breaks code that still uses it", plan=plans.drop_table(table, schema))
