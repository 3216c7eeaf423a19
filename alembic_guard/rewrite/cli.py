"""The ``alembic-guard fix`` command body (the click declaration lives in alembic_guard.cli)."""

from __future__ import annotations

import sys

import click

from ..errors import GuardError
from .fix import run_fix
from .proof import LockBudget
from .report import remaining_unsafe, render_fix_markdown, render_fix_text


def fix_command(revisions: list[str], *, write: bool, config_file: str, section: str, x_args: list[str], fmt: str,
                lock_budget_ms: float, shadow: str | None, shadow_url: str | None, pg_version: int | None) -> None:
    """Run the fix job, print the report, exit 0 (all safe or fixed), 1 (something stays unsafe) or 2."""
    try:
        report = run_fix(config_file, revisions, section=section, x_args=x_args, shadow=shadow,
                         shadow_url=shadow_url, pg_version=pg_version,
                         budget=LockBudget(max_held_ms=lock_budget_ms), write=write)
    except GuardError as err:
        click.echo(f"alembic-guard: {err.paragraph()}", err=True)
        sys.exit(2)
    except KeyboardInterrupt:
        click.echo("alembic-guard: interrupted; the shadow was stopped and its files removed.", err=True)
        sys.exit(130)
    text = render_fix_markdown(report, written=write) if fmt == "markdown" else render_fix_text(report, written=write)
    click.echo(text, nl=False)
    sys.exit(1 if remaining_unsafe(report) else 0)
