"""``alembic-guard revision``: autogenerate against a shadow at head; prints the files written."""

from __future__ import annotations

import click

from ..exit_policy import OK
from ..revision import run_revision


def revision_job(config_file: str, message: str, *, section: str, x_args: list[str], autogenerate: bool,
                 rev_id: str | None, shadow: str | None, shadow_url: str | None, verbose: bool,
                 target: int | None = None) -> int:
    for path in run_revision(config_file, message, section=section, x_args=x_args, autogenerate=autogenerate,
                             rev_id=rev_id, shadow=shadow, shadow_url=shadow_url, verbose=verbose,
                             target=target):
        click.echo(f"Generated {path}")
    return OK
