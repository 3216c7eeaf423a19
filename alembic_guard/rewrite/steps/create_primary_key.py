"""``op.create_primary_key`` on an existing table → ``op.add_primary_key_using_index``."""

from __future__ import annotations

from ..facts import Facts
from ..opcall import Call
from ..outcome import Outcome
from . import create_unique_constraint


def rewrite(call: Call, facts: Facts) -> Outcome | None:
    return create_unique_constraint.rewrite(call, facts, primary=True)
