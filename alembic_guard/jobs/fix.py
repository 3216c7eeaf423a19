"""``alembic-guard fix``: rewrite, prove, print the report; exit 1 while a revision stays unsafe."""

from __future__ import annotations

import contextlib
from pathlib import Path

import click

from ..errors import GuardError
from ..exit_policy import fix_exit
from ..redact import redact
from ..rewrite.fix import run_fix
from ..rewrite.proof import LockBudget
from ..rewrite.report import render_fix_markdown, render_fix_text


def fix_job(revisions: list[str], *, write: bool, config_file: str, section: str, x_args: list[str], fmt: str,
            lock_budget_ms: float, shadow: str | None, shadow_url: str | None, pg_version: int | None) -> int:
    """Fix ``revisions``; the report lists what stays unsafe and why (exit_policy.fix_exit).
    With ``write``, every rewritten file is written, or none (GuardError naming the file that cannot be)."""
    report = run_fix(config_file, revisions, section=section, x_args=x_args, shadow=shadow,
                     shadow_url=shadow_url, pg_version=pg_version,
                     budget=LockBudget(max_held_ms=lock_budget_ms), write=False)
    if write:
        write_all([(Path(fx.path), fx.source, fx.new_source) for fx in report.revisions
                   if fx.new_source is not None and fx.new_source != fx.source])
    text = render_fix_markdown(report, written=write) if fmt == "markdown" else render_fix_text(report, written=write)
    click.echo(redact(text), nl=False)
    return fix_exit(report)


def write_all(files: list[tuple[Path, str, str]]) -> None:
    """Write each ``(path, old text, new text)``, all or nothing: every file is first opened for
    writing without changing it (the one reliable test: permissions, read-only or immutable files,
    root), and if a write still fails the files already written get their old text back.
    Raises GuardError naming the file."""
    for path, _old, _new in files:
        try:
            with open(path, "r+"):
                pass
        except OSError as exc:
            raise GuardError(f"cannot write the rewritten revision: {exc.strerror or exc}; no file was changed.",
                             path=str(path),
                             hint="Make it writable, or run fix without --write for the diff.") from None
    done: list[tuple[Path, str]] = []
    for path, old, new in files:
        try:
            path.write_text(new)
        except OSError as exc:
            for written, text in [*done, (path, old)]:
                with contextlib.suppress(OSError):  # best effort: the first error is the one to report
                    written.write_text(text)
            raise GuardError(f"cannot write the rewritten revision: {exc.strerror or exc}; every file was left "
                             "as it was.", path=str(path)) from None
        done.append((path, old))
