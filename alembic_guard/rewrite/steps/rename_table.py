"""``op.rename_table``: refused, with an expand/contract plan (rename + updatable view)."""

from __future__ import annotations

from .. import plans
from ..facts import Facts
from ..opcall import Call
from ..outcome import Outcome


def rewrite(call: Call, facts: Facts) -> Outcome | None:
    old, new, schema = call.get("old_table_name"), call.get("new_table_name"), call.get("schema")
    if old is None:
        return None
    return Outcome("rename-table", f"RENAME TABLE {old} → {new}",
                   refused="renaming a table breaks every running instance that still uses the old name",
                   plan=plans.rename_table(old, new, schema))
