"""Which rewrites of an autogenerate revision hold on the shadow: every proven rewrite is kept, even
when another operation of the same revision cannot be rewritten or its rewrite fails its proof.

1. The whole rewritten revision is proven against the original (autogen.verify).
2. When that fails, the operations that stay unsafe (``RefusedOp``: refused, kept as written) are
   left out of both versions: an ADD COLUMN … NOT NULL without a default fails on the seeded shadow
   in the original as much as in the rewrite, and must not sink the rewrites next to it.
3. When that fails too, each rewrite is proven on its own (the others as their originals), and
   the ones that hold are proven together once more.

A rewrite that holds in none of these is put back as its original, marked as still unsafe with the
reason the proof gave (``RefusedOp``).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from alembic.operations import ops

from .rendered_ops import RefusedOp, RewrittenOp
from .container import slots, without
from .verify import verify
from ..rewrite.outcome import Outcome
from ..rewrite.proof import LockBudget, Proof


@dataclass
class Choice:
    """The rewrites kept (``accepted``: RewrittenOps), those put back (``rejected``: RewrittenOp →
    why), the proof of the kept ones, and whether it left the still-unsafe operations out."""

    accepted: list[RewrittenOp] = field(default_factory=list)
    rejected: dict[int, tuple[RewrittenOp, list[str]]] = field(default_factory=dict)
    proof: Proof | None = None
    left_out: list[ops.MigrateOperation] = field(default_factory=list)


def choose(context: Any, script: ops.MigrationScript, tables: list[str], budget: LockBudget) -> Choice:
    """Prove the rewrites of ``script.upgrade_ops`` (see the module doc) and leave only the proven
    ones in place; the others become RefusedOps with the proof's reasons."""
    up = script.upgrade_ops
    places = slots(up, RewrittenOp)
    refused = [op for _, _, op in slots(up, RefusedOp)]

    def activate(chosen: list[RewrittenOp]) -> None:
        ids = {id(r) for r in chosen}
        for container, i, rw in places:
            container.ops[i] = rw if id(rw) in ids else rw.original

    def attempt(chosen: list[RewrittenOp], leave_out: bool) -> Proof:
        activate(chosen)
        if not leave_out:
            return verify(context, script, tables, budget)
        return verify(context, script, tables, budget, upgrade_ops=without(up, {id(op) for op in refused}))

    every = [rw for _, _, rw in places]
    choice = Choice()
    proof = attempt(every, False)
    leave_out = False
    if not proof.accepted and refused and not proof.error:
        leave_out = True
        proof = attempt(every, True)
    reasons: dict[int, list[str]] = {}
    if proof.accepted:
        choice.accepted = every
    elif len(every) > 1 and not proof.error:
        for rw in every:
            single = attempt([rw], leave_out)
            if single.accepted:
                choice.accepted.append(rw)
            else:
                reasons[id(rw)] = single.reasons()
        if choice.accepted:
            proof = attempt(choice.accepted, leave_out)
            if not proof.accepted:
                reasons.update({id(rw): proof.reasons() for rw in choice.accepted})
                choice.accepted = []
    kept = {id(rw) for rw in choice.accepted}
    choice.rejected = {id(rw): (rw, reasons.get(id(rw)) or proof.reasons()) for rw in every if id(rw) not in kept}
    activate(choice.accepted)
    for container, i, rw in places:
        if id(rw) in choice.rejected:
            why = choice.rejected[id(rw)][1]
            container.ops[i] = RefusedOp(rw.original, Outcome(
                rw.outcome.kind, rw.outcome.what,
                refused="its rewrite did not hold on the shadow (" + "; ".join(why[:2] or ["no proof"]) + ")"))
    choice.proof = proof
    choice.left_out = refused if leave_out and choice.accepted else []
    return choice
