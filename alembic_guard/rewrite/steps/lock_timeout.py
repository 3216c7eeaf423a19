"""The fallback step: any other ACCESS EXCLUSIVE step on an existing table without lock_timeout →
``op.run_with_lock_timeout("<the same SQL>")`` (own short transaction, lock_timeout, retries)."""

from __future__ import annotations

from ..facts import Facts
from ..opcall import Call
from ..outcome import Outcome
from ._common import op_call, sql_list


def rewrite(call: Call, facts: Facts) -> Outcome | None:
    """Any other ACCESS EXCLUSIVE step on a pre-existing table without lock_timeout: run its SQL
    through op.run_with_lock_timeout (own short transaction, lock_timeout, retries)."""
    if facts.lock_timeout_ms or not facts.access_exclusive or not facts.statements:
        return None
    from ...sql.parse import parse_all

    if any(parse_all(s) is None for s in facts.statements):
        return None  # bind parameters or several statements: keep it
    return Outcome("lock-timeout-retry",
                   f"op.{call.name} (ACCESS EXCLUSIVE, no lock_timeout) → op.run_with_lock_timeout: "
                   "lock_timeout, own short transaction, retried with backoff",
                   code=f"# was: {call.source.splitlines()[0]}{' …' if len(call.source.splitlines()) > 1 else ''}\n"
                        + op_call("run_with_lock_timeout", sql_list(facts.statements)))
