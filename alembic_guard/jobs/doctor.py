"""``alembic-guard doctor``: env.py patterns that break migration safety, with the fix for each."""

from __future__ import annotations

import click

from ..doctor import diagnose_project
from ..exit_policy import doctor_exit


def doctor_job(config_file: str, section: str) -> int:
    findings = diagnose_project(config_file, section)
    for f in findings:
        click.echo(f.text() + "\n")
    click.echo(f"{len(findings)} env.py problem(s)" if findings else "env.py: no known problem found")
    return doctor_exit(findings)
