"""``op.execute("<SQL>")`` → its online form (rewrite.sqlrewrite), with autocommit blocks and
``op.validate_constraint`` where the rewritten SQL needs them."""

from __future__ import annotations

from ..facts import Facts
from ..opcall import Call
from ..outcome import Outcome
from ..sqlrewrite import Unsupported, rewrite_sql
from . import raw_update
from ._common import op_call, pystr


def rewrite(call: Call, facts: Facts) -> Outcome | None:
    sql = call.get("sqltext")
    if not isinstance(sql, str):
        return None
    backfill = raw_update.rewrite(sql, facts)
    if backfill is not None:
        return backfill
    try:
        rw = rewrite_sql(sql, server_version_num=facts.server_version_num,
                         matview_has_unique_index=facts.matview_has_unique_index,
                         has_default_partition=facts.has_default_partition)
    except Unsupported as exc:
        return Outcome("raw-sql", f"op.execute({sql[:60]!r})", refused=str(exc))
    if rw is None:
        return None
    lines: list[str] = []
    block: list[str] = []

    def flush() -> None:
        if block:
            lines.append("with op.get_context().autocommit_block():\n" + "\n".join("    " + b for b in block))
            block.clear()

    for step in rw.steps:
        if step.validate:
            flush()
            name, table, schema = step.validate
            lines.append(op_call("validate_constraint", pystr(name), pystr(table),
                                 schema=pystr(schema) if schema else None))
        elif step.autocommit:
            block.append(f"op.execute({pystr(step.sql)})")
        else:
            flush()
            lines.append(f"op.execute({pystr(step.sql)})")
    flush()
    return Outcome("raw-sql", rw.what, code="\n".join(lines))
