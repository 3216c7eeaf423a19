"""Which step rewrites which Alembic operation, and ``rewrite_call``, the dispatch over them."""

from __future__ import annotations

from collections.abc import Callable

from ..facts import Facts
from ..opcall import Call
from ..outcome import Outcome
from . import (
    execute,
)

Step = Callable[[Call, Facts], Outcome | None]

#: operation name → its step
STEPS: dict[str, Step] = {
    "execute": execute.rewrite,
}

#: operations whose step has the last word: no lock_timeout fallback when it returns None
NO_FALLBACK = {"execute"}


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
    from ...recipes.lock_timeout import LockTimeout

    return LockTimeout().rewrite_op(call, facts)
