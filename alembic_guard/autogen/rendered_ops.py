"""Alembic operations that carry a rewrite through autogenerate, with their renderers.

``RewrittenOp`` replaces an unsafe operation in ``upgrade_ops``; it keeps the ``original`` operation
(so a later hook in a chain can still see it) and renders as the safe code (calls of
:mod:`alembic_guard.ops`). ``RefusedOp`` keeps the original operation and renders it with a comment
saying why it was not rewritten. ``CommentOp`` renders comment lines (the header).
"""

from __future__ import annotations

from alembic.autogenerate import renderers
from alembic.autogenerate.render import render_op
from alembic.operations import ops

from ..rewrite.outcome import Outcome


class _OutcomeOp(ops.MigrateOperation):
    """An ``original`` operation and the ``outcome`` of rewriting it; reverses and diffs as the original."""

    def __init__(self, original: ops.MigrateOperation, outcome: Outcome):
        self.original = original
        self.outcome = outcome

    def reverse(self) -> ops.MigrateOperation:
        return self.original.reverse()

    def to_diff_tuple(self):
        return self.original.to_diff_tuple()


class RewrittenOp(_OutcomeOp):
    """An unsafe ``original`` operation and the ``outcome`` (safe code) that replaces it."""


class RefusedOp(_OutcomeOp):
    """An operation kept as it is, with the ``reason`` it could not be made safe in one revision."""


class CommentOp(ops.MigrateOperation):
    """Comment lines (without the ``#``) rendered at this place of the revision."""

    def __init__(self, lines: list[str]):
        self.lines = lines

    def reverse(self) -> CommentOp:
        return CommentOp([])


def _lines(code: str) -> list[str]:
    return [ln for ln in code.splitlines() if ln.strip()]


def _block(lines: list[str]) -> str:
    """One printer item for several source lines. Alembic's PythonPrinter re-indents line by line
    (a line ending in ``:`` opens a block, a blank line closes one); a single multi-line item keeps
    the lines' own indentation (``with …:`` blocks of the rewrite) and is indented as a whole."""
    return "\n".join(lines)


@renderers.dispatch_for(RewrittenOp)
def _render_rewritten(autogen_context, op: RewrittenOp) -> list[str]:
    autogen_context.imports.add("import alembic_guard.ops  # noqa: F401")
    return [_block([f"# alembic-guard: {op.outcome.what}"] + _lines(op.outcome.code or ""))]


@renderers.dispatch_for(RefusedOp)
def _render_refused(autogen_context, op: RefusedOp) -> list[str]:
    out = [f"# alembic-guard: NOT rewritten: {op.outcome.refused}."]
    if op.outcome.plan:
        out.append("# alembic-guard: expand/contract plan (one revision each):")
        from ..rewrite.plans import render_plan

        out += ["#   " + ln for ln in render_plan(op.outcome.plan).splitlines()]
    for item in render_op(autogen_context, op.original):
        out += _lines(item)
    return [_block(out)]


@renderers.dispatch_for(CommentOp)
def _render_comment(autogen_context, op: CommentOp) -> list[str]:
    return [_block([f"# {ln}" for ln in op.lines])]
