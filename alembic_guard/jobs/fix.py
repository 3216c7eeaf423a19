"""``alembic-guard fix``: rewrite, prove, print the report; exit 1 while a revision stays unsafe."""

from __future__ import annotations

import click

from ..exit_policy import fix_exit
from ..rewrite.fix import run_fix
from ..rewrite.proof import LockBudget
from ..rewrite.report import render_fix_markdown, render_fix_text


def fix_job(revisions: list[str], *, write: bool, config_file: str, section: str, x_args: list[str], fmt: str,
            lock_budget_ms: float, shadow: str | None, shadow_url: str | None, pg_version: int | None) -> int:
    """Fix ``revisions``; the report lists what stays unsafe and why (exit_policy.fix_exit)."""
    report = run_fix(config_file, revisions, section=section, x_args=x_args, shadow=shadow,
                     shadow_url=shadow_url, pg_version=pg_version,
                     budget=LockBudget(max_held_ms=lock_budget_ms), write=write)
    text = render_fix_markdown(report, written=write) if fmt == "markdown" else render_fix_text(report, written=write)
    click.echo(text, nl=False)
    return fix_exit(report)
