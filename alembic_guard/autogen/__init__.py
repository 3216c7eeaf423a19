"""The autogenerate hook: ``alembic revision --autogenerate`` writes safe operations.

In env.py::

    from alembic_guard.autogen import process_revision_directives

    context.configure(connection=connection, target_metadata=target_metadata,
                      process_revision_directives=process_revision_directives)

With a hook of your own or an Alembic ``Rewriter``: ``process_revision_directives=chain(mine, guard)``
(``wrap(mine)`` is the same as ``chain(mine, process_revision_directives)``).

For every unsafe operation on a table that already exists in the database autogenerate compared
against (and is not created by a ``CreateTableOp`` of the same revision), the operation is replaced
by a :class:`~alembic_guard.autogen.rendered_ops.RewrittenOp` that renders as calls of
:mod:`alembic_guard.ops`; what one revision cannot make safe (renames, rewriting type changes,
dropping columns/tables, NOT NULL columns without a default) stays as it is, with a comment and an
expand/contract plan. Then, unless ``verify=False`` (or ``ALEMBIC_GUARD_VERIFY=0``), the original
and the rewritten revision are applied from the current head on two scratch databases of a shadow
PostgreSQL (never the database autogenerate compared against); only when the final catalogs are equal
and no dangerous lock exceeds the budget are the rewrites kept, and the revision gets a header
comment naming the PostgreSQL version. Every rewrite that holds is kept even when another operation
of the revision cannot be rewritten or its rewrite fails its proof (autogen.choose); each
operation left unsafe is named in the header ("STILL UNSAFE"), next to the operation itself, on
stderr and on the ``alembic_guard.autogen`` logger.

This module is the hook and its public API; the work is in this package: db_facts (the
compared database's catalog), container (rewriting an OpContainer), verify (the proof), choose
(which rewrites to keep), rendered_ops (the operations that render the rewrites).
"""

from __future__ import annotations

import logging
import os
import sys
from collections.abc import Callable
from typing import Any

from alembic.autogenerate.api import AutogenContext
from alembic.operations import ops

from .db_facts import DbFacts, op_sql, qualified
from .choose import choose
from .rendered_ops import CommentOp, RefusedOp
from .container import created_tables, restore, rewrite_container, slots, table_of
from ..rewrite.outcome import Outcome
from ..rewrite.proof import LockBudget

__all__ = ["Hook", "chain", "make_hook", "op_sql", "process_revision_directives", "rewrite_directives", "wrap"]

Hook = Callable[[Any, Any, list], None]
log_ = logging.getLogger("alembic_guard.autogen")


def rewrite_directives(context: Any, directives: list, *, verify: bool = True,
                       budget: LockBudget = LockBudget()) -> list[tuple[ops.MigrateOperation, Outcome]]:
    """Rewrite the unsafe operations of each ``MigrationScript`` in ``directives`` in place (see the
    module doc). Returns (original operation, outcome) pairs. Never raises for a failed proof: the
    originals are kept and the reason is written into the revision."""
    connection = getattr(context, "connection", None) if context is not None else None
    if connection is None:
        return []  # offline (--sql) autogenerate: nothing is known to exist, nothing is rewritten
    db = DbFacts(connection)
    done: list[tuple[ops.MigrateOperation, Outcome]] = []
    for script in directives:
        if not isinstance(script, ops.MigrationScript):
            continue
        autogen = AutogenContext(context, opts=dict(getattr(context, "opts", {}) or {}))
        for up, down in zip(script.upgrade_ops_list, script.downgrade_ops_list, strict=False):
            created = created_tables(up)
            log: list[tuple[ops.MigrateOperation, Outcome]] = []
            rewrite_container(up, autogen, db, created, False, log)
            rewrite_container(down, autogen, db, created | created_tables(down), True, [])
            done += log
            rewrites = [o for _, o in log if o.code]
            if not rewrites:
                _report(log, None)
                if log:
                    up.ops.insert(0, CommentOp(_still_unsafe(up)))
                continue
            header = f"alembic-guard: rewritten ({', '.join(sorted({o.kind for o in rewrites}))})"
            if verify and os.environ.get("ALEMBIC_GUARD_VERIFY", "1") != "0" and connection is not None:
                tables = sorted({qualified(*table_of(op)) for op, o in log if o.code and table_of(op)[0]})
                choice = choose(context, script, tables, budget)
                proof = choice.proof
                if choice.accepted:
                    kinds = ", ".join(sorted({r.outcome.kind for r in choice.accepted}))
                    lines = [f"alembic-guard: rewritten ({kinds}); verified on PostgreSQL {proof.server_version}: "
                             "same final schema as the",
                             "alembic-guard: original operations, no SHARE-or-stronger lock on an existing table "
                             "beyond "
                             f"{budget.max_held_ms:g} ms or during a scan/rewrite."]
                    if choice.left_out:
                        lines.append("alembic-guard: (proven without the operations that remain unsafe: they fail "
                                     "or differ on the seeded shadow as they are)")
                else:
                    restore(down)
                    lines = ["alembic-guard: rewrites rejected, the original operations are kept:"] + \
                            [f"alembic-guard:   {r}" for r in proof.reasons()[:5]]
                lines += _still_unsafe(up)
                _report(log, proof, choice)
            else:
                lines = [f"{header}; not verified on a shadow (verify=False)."] + _still_unsafe(up)
                _report(log, None)
            up.ops.insert(0, CommentOp(lines))
    return done


def _still_unsafe(container: ops.OpContainer) -> list[str]:
    """Header lines naming each operation left as it is (refused, or its rewrite did not hold)."""
    return [f"alembic-guard: STILL UNSAFE: {op.outcome.what}: {op.outcome.refused}"
            for _, _, op in slots(container, RefusedOp)]


def _report(log: list[tuple[ops.MigrateOperation, Outcome]], proof, choice=None) -> None:
    """What happened to each operation, on stderr and the ``alembic_guard.autogen`` logger."""
    from ..rewrite.plans import render_plan

    rejected = {id(rw.original): why for rw, why in (choice.rejected.values() if choice else ())}
    for op, outcome in log:
        if outcome.code and id(op) in rejected:
            message = f"STILL UNSAFE ({outcome.what}): its rewrite did not hold: {'; '.join(rejected[id(op)][:2])}"
            sys.stderr.write(f"  alembic-guard: {message}\n")
            log_.warning("%s", message)
        elif outcome.code:
            sys.stderr.write(f"  alembic-guard: {outcome.what}\n")
        else:
            sys.stderr.write(f"  alembic-guard: NOT rewritten, STILL UNSAFE ({outcome.what}): {outcome.refused}\n")
            log_.warning("NOT rewritten, STILL UNSAFE (%s): %s", outcome.what, outcome.refused)
            if outcome.plan:
                sys.stderr.write("    expand/contract plan:\n" +
                                 "".join(f"      {ln}\n" for ln in render_plan(outcome.plan).splitlines()))
    if proof is not None:
        sys.stderr.write(f"  alembic-guard: verification on PostgreSQL {proof.server_version}: "
                         + ("accepted" if proof.accepted else "; ".join(proof.reasons())) + "\n")
        for line in proof.locks_before:
            sys.stderr.write(f"    lock before: {line}\n")
        for line in proof.locks_after:
            sys.stderr.write(f"    lock after:  {line}\n")


def make_hook(*, verify: bool = True, budget: LockBudget = LockBudget()) -> Hook:
    """A ``process_revision_directives`` hook with its own options (``verify``: prove on a shadow;
    ``budget``: lock budget for the proof)."""

    def hook(context: Any, revision: Any, directives: list) -> None:
        rewrite_directives(context, directives, verify=verify, budget=budget)

    return hook


def process_revision_directives(context: Any, revision: Any, directives: list) -> None:
    """The hook for ``context.configure(process_revision_directives=...)`` (verify on a shadow,
    default lock budget). Modifies ``directives`` in place; raises nothing for unsafe operations."""
    rewrite_directives(context, directives)


def chain(*hooks: Hook | None) -> Hook:
    """One hook that calls ``hooks`` in order with the same arguments (None entries are skipped;
    an Alembic ``Rewriter`` is a hook). Put alembic_guard last so it sees the final operations."""
    active = [h for h in hooks if h is not None]

    def chained(context: Any, revision: Any, directives: list) -> None:
        for hook in active:
            hook(context, revision, directives)

    return chained


def wrap(existing: Hook | None) -> Hook:
    """``chain(existing, process_revision_directives)``."""
    return chain(existing, process_revision_directives)
