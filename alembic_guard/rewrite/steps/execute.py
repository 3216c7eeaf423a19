"""``op.execute("<SQL>")`` → its online form (rewrite.sqlrewrite), with autocommit blocks and
``op.validate_constraint`` where the rewritten SQL needs them."""

from __future__ import annotations

from ..facts import Facts
from ..opcall import Call
from ..outcome import Outcome
from ...recipes.base import Refusal
from ..sqlrewrite import Unsupported, render_steps, rewrite_sql
from . import raw_update


def rewrite(call: Call, facts: Facts) -> Outcome | None:
    sql = call.get("sqltext")
    if not isinstance(sql, str):
        return None
    backfill = raw_update.rewrite(sql, facts)
    if backfill is not None:
        return backfill
    try:
        rw = rewrite_sql(sql, facts)
    except Refusal as exc:
        return Outcome("raw-sql", f"op.execute({sql[:60]!r})", refused=exc.reason, plan=exc.plan)
    except Unsupported as exc:
        return Outcome("raw-sql", f"op.execute({sql[:60]!r})", refused=str(exc))
    if rw is None:
        return None
    return Outcome("raw-sql", rw.what, code=render_steps(rw.steps))
