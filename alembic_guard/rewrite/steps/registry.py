"""Which step rewrites which Alembic operation, and ``rewrite_call``, the dispatch over them."""

from __future__ import annotations

from collections.abc import Callable

from ..facts import Facts
from ..opcall import Call
from ..outcome import Outcome
from . import (
    add_column,
    alter_column,
    create_index,
    drop_column,
    drop_index,
    drop_table,
    execute,
    lock_timeout,
    rename_table,
)

Step = Callable[[Call, Facts], Outcome | None]

#: operation name → its step
STEPS: dict[str, Step] = {
    "create_index": create_index.rewrite,
    "drop_index": drop_index.rewrite,
    "alter_column": alter_column.rewrite,
    "add_column": add_column.rewrite,
    "execute": execute.rewrite,
    "drop_column": drop_column.rewrite,
    "drop_table": drop_table.rewrite,
    "rename_table": rename_table.rewrite,
}

#: operations whose step has the last word: no lock_timeout fallback when it returns None
NO_FALLBACK = {"create_index", "drop_index", "execute"}


def rewrite_call(call: Call, facts: Facts) -> Outcome | None:
    """The safe form of ``call`` given ``facts``, a refusal, or None when nothing needs changing.

    The recipes that name ``call.name`` in their ``ops`` come first (alembic_guard/recipes); the
    steps of this package are the ones not moved into a recipe yet; the lock_timeout fallback last."""
    from ...recipes import for_op

    for r in for_op(call.name):
        outcome = r.rewrite_op(call, facts)
        if outcome is not None:
            return outcome
        if r.final:
            return None
    step = STEPS.get(call.name)
    if step is not None:
        outcome = step(call, facts)
        if outcome is not None or call.name in NO_FALLBACK:
            return outcome
    return lock_timeout.rewrite(call, facts)
