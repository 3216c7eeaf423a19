"""Expand/contract plans for what one revision cannot do safely (refused rewrites): the step and
its rendering. Each plan is written by its recipe (alembic_guard/recipes).

A plan is a sequence of revisions, each with the Alembic code of its ``upgrade()`` and the
deployment that must happen between them. Names and types are the user's, from the catalog; what
alembic_guard cannot know (a backfill value) appears as a placeholder in angle brackets.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass
class PlanStep:
    """One revision of an expand/contract plan: ``title`` (what and when) and ``code`` (the body of
    its ``upgrade()``)."""

    title: str
    code: str


def render_plan(steps: list[PlanStep], *, comment: bool = False) -> str:
    """The plan as text (``comment=True``: every line starts with ``# ``)."""
    lines = []
    for i, step in enumerate(steps, 1):
        lines.append(f"revision {i}: {step.title}")
        lines += ["    " + ln for ln in step.code.splitlines()]
    if comment:
        return "\n".join("# " + ln for ln in lines)
    return "\n".join(lines)
