"""``op.execute("<SQL>")`` → its online form (rewrite.sqlrewrite), with autocommit blocks and
``op.validate_constraint`` where the rewritten SQL needs them. (A full-table UPDATE/DELETE is
rewritten before this step, by recipes/backfill.py.)"""

from __future__ import annotations

from ..facts import Facts
from ..opcall import Call
from ..outcome import Outcome
from ...recipes.base import Refusal
from ..sqlrewrite import render_steps, rewrite_sql


def rewrite(call: Call, facts: Facts) -> Outcome | None:
    sql = call.get("sqltext")
    if not isinstance(sql, str):
        return None
    try:
        rw = rewrite_sql(sql, facts)
    except Refusal as exc:
        return Outcome("raw-sql", f"op.execute({sql[:60]!r})", refused=exc.reason, plan=exc.plan)
    if rw is None:
        return None
    return Outcome("raw-sql", rw.what, code=render_steps(rw.steps))
