"""One job per command: ``alembic_guard.cli`` parses the options and hands them to a job here, which
runs the stages, prints the result and returns the exit status (decided by ``alembic_guard.exit_policy``).

:func:`run_job` turns what a job raises into the exit status: a GuardError (bad input, a broken
project, no shadow) is one paragraph on stderr naming file and line, and status 2; Ctrl-C is 130.
"""

from __future__ import annotations

from collections.abc import Callable

import click

from ..errors import GuardError
from ..exit_policy import BAD_INPUT, INTERRUPTED


def report_error(err: GuardError) -> int:
    """Print ``err`` as ``alembic-guard: <paragraph>`` on stderr (passwords redacted); the exit status for it."""
    from ..redact import redact

    click.echo(f"alembic-guard: {redact(err.paragraph())}", err=True)
    return BAD_INPUT


def _redact_log_records() -> None:
    """Every log record (Alembic's, SQLAlchemy's, env.py's own, with -v) is redacted as it is made:
    a record factory, because env.py's ``fileConfig()`` replaces the handlers a filter would sit on."""
    import logging

    from ..redact import redact

    previous = logging.getLogRecordFactory()
    if getattr(previous, "alembic_guard_redacts", False):
        return

    def factory(*args, **kwargs):
        record = previous(*args, **kwargs)
        try:
            message = record.getMessage()
        except Exception:  # noqa: BLE001 - a malformed record is logging's to report, not ours
            return record
        record.msg, record.args = redact(message), None
        return record

    factory.alembic_guard_redacts = True
    logging.setLogRecordFactory(factory)


def run_job(job: Callable[[], int]) -> int:
    """Run ``job`` and return its exit status, or the status for what it raised."""
    _redact_log_records()
    try:
        return job()
    except GuardError as err:
        return report_error(err)
    except KeyboardInterrupt:
        click.echo("alembic-guard: interrupted; the shadow was stopped and its files removed.", err=True)
        return INTERRUPTED
