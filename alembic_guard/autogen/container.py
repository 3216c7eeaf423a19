"""Rewrite the operations of an autogenerate ``OpContainer`` in place (RewrittenOp / RefusedOp), and
undo it: each operation on an existing table is rendered by Alembic and passed to rewrite_call."""

from __future__ import annotations

from alembic.autogenerate.api import AutogenContext
from alembic.autogenerate.render import render_op_text
from alembic.operations import ops

from .db_facts import DbFacts, op_sql, qualified
from .rendered_ops import CommentOp, RefusedOp, RewrittenOp
from ..rewrite.facts import Facts
from ..rewrite.opcall import call_from_source
from ..rewrite.outcome import Outcome
from ..rewrite.steps.registry import rewrite_call

#: operations that take ACCESS EXCLUSIVE on their table (wrapped with lock_timeout + retry when
#: nothing more specific applies)
AEL_OPS = (ops.AddColumnOp, ops.AlterColumnOp, ops.DropConstraintOp, ops.DropColumnOp, ops.DropTableOp,
           ops.RenameTableOp, ops.CreateTableCommentOp, ops.DropTableCommentOp)
#: the only rewrites applied to downgrades
DOWNGRADE_KINDS = {"create-index-concurrently", "drop-index-concurrently"}


def table_of(op: ops.MigrateOperation) -> tuple[str | None, str | None]:
    for attr in ("table_name", "source_table", "old_table_name"):
        name = getattr(op, attr, None)
        if name:
            schema = getattr(op, "schema", None) or getattr(op, "source_schema", None)
            return name, schema
    return None, None


def outcome_for(op: ops.MigrateOperation, autogen: AutogenContext, db: DbFacts, created: set[str]) \
        -> Outcome | None:
    """The rewrite of one operation (None: not on an existing table, or nothing to change)."""
    table, schema = table_of(op)
    if table is None:
        return None
    table_q = qualified(table, schema)
    preexisting = table_q in db.tables and table_q not in created
    if not preexisting:
        return None
    call = call_from_source(render_op_text(autogen, op))
    if call is None:
        return None
    statements = op_sql(op)
    facts = Facts(
        preexisting=lambda t: t in db.tables and t not in created,
        relkind=lambda t: db.kinds.get(t),
        statements=statements,
        rewritten={table_q} if isinstance(op, ops.AlterColumnOp) and db.rewrites_type(op) else set(),
        lock_timeout_ms=0,
        server_version_num=db.version_num,
        volatile=db.volatile,
        access_exclusive=isinstance(op, AEL_OPS),
        tables=db.catalog,
    )
    if isinstance(op, ops.AddColumnOp):
        facts.rewritten = None  # volatility decides
    return rewrite_call(call, facts)


def created_tables(container: ops.OpContainer) -> set[str]:
    out = set()
    for op in container.ops:
        if isinstance(op, ops.CreateTableOp):
            out.add(qualified(op.table_name, op.schema))
    return out


def rewrite_container(container: ops.OpContainer, autogen: AutogenContext, db: DbFacts, created: set[str],
                      downgrade: bool, log: list[tuple[ops.MigrateOperation, Outcome]]) -> None:
    """Replace the operations of ``container`` (recursively) by RewrittenOp / RefusedOp; log them."""
    for i, op in enumerate(list(container.ops)):
        if isinstance(op, ops.ModifyTableOps):
            rewrite_container(op, autogen, db, created, downgrade, log)
            continue
        if isinstance(op, (RewrittenOp, RefusedOp, CommentOp)):
            continue
        outcome = outcome_for(op, autogen, db, created)
        if outcome is None:
            continue
        if downgrade and (outcome.kind not in DOWNGRADE_KINDS or not outcome.code):
            continue
        container.ops[i] = RewrittenOp(op, outcome) if outcome.code else RefusedOp(op, outcome)
        log.append((op, outcome))


def originals(container: ops.OpContainer) -> list[ops.MigrateOperation]:
    """A copy of ``container.ops`` with every RewrittenOp replaced by its original (no mutation)."""
    out: list[ops.MigrateOperation] = []
    for op in container.ops:
        if isinstance(op, ops.ModifyTableOps):
            out.append(ops.ModifyTableOps(op.table_name, originals(op), schema=op.schema))
        elif isinstance(op, RewrittenOp):
            out.append(op.original)
        elif not isinstance(op, CommentOp):
            out.append(op)
    return out


def without(container: ops.OpContainer, dropped: set[int]) -> ops.UpgradeOps:
    """A copy of ``container``'s operations (recursively) without those whose ``id`` is in
    ``dropped`` (no mutation): the revision a proof runs when some operations must be left out."""
    def kept(c: ops.OpContainer) -> list[ops.MigrateOperation]:
        out: list[ops.MigrateOperation] = []
        for op in c.ops:
            if id(op) in dropped:
                continue
            if isinstance(op, ops.ModifyTableOps):
                inner = kept(op)
                if inner:
                    out.append(ops.ModifyTableOps(op.table_name, inner, schema=op.schema))
            else:
                out.append(op)
        return out

    return ops.UpgradeOps(ops=kept(container))


def slots(container: ops.OpContainer, kind: type) -> list[tuple[ops.OpContainer, int, ops.MigrateOperation]]:
    """``(container, index, op)`` of every operation of type ``kind`` in ``container`` (recursively),
    so that it can be swapped for its original and back."""
    out = []
    for i, op in enumerate(container.ops):
        if isinstance(op, ops.ModifyTableOps):
            out += slots(op, kind)
        elif isinstance(op, kind):
            out.append((container, i, op))
    return out


def restore(container: ops.OpContainer) -> None:
    """Put the originals of the RewrittenOps of ``container`` (recursively) back in place."""
    for i, op in enumerate(container.ops):
        if isinstance(op, ops.ModifyTableOps):
            restore(op)
        elif isinstance(op, RewrittenOp):
            container.ops[i] = op.original
