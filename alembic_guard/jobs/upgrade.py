"""``alembic-guard upgrade``: the guarded upgrade (alembic_guard.deploy); progress on stderr."""

from __future__ import annotations

import click

from ..deploy.run import UpgradeOptions, run_upgrade
from ..exit_policy import upgrade_exit
from ..redact import redact


def upgrade_job(opts: UpgradeOptions) -> int:
    def say(text: str) -> None:
        click.echo(redact(text), err=True)

    result = run_upgrade(opts, say)
    if opts.dry_run:
        where = ", ".join(result.heads_before) or "base"
        click.echo(f"plan: from {where} to {opts.target}, {len(result.plan)} revision(s):")
        for step in result.plan:
            timeouts = f"lock_timeout {step.lock_timeout_ms} ms" if step.lock_timeout_ms else "no lock_timeout"
            if step.statement_timeout_ms:
                timeouts += f", statement_timeout {step.statement_timeout_ms} ms"
            verdict = f" — check: {step.verdict}" if step.verdict else ""
            click.echo(f"  {step.revision} {step.message} ({timeouts}, {step.attempts} attempt(s)){verdict}")
            for finding in step.findings:
                click.echo(f"      {finding}")
        return upgrade_exit(result)
    if result.ok:
        click.echo(f"upgraded: {len(result.applied)} revision(s) applied" +
                   (f" ({', '.join(result.applied)})" if result.applied else " (already at the target)"))
    else:
        click.echo(redact(f"stopped at {result.stopped_at} after applying {len(result.applied)} revision(s): "
                          f"{result.reason}"), err=True)
        click.echo("A rerun resumes at that revision; the ones applied are not run again.", err=True)
    return upgrade_exit(result)
