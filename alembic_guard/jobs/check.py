"""``alembic-guard check``: trace, judge, render, write the report; the exit status from exit_policy."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from ..check import CheckOptions, run_check
from ..errors import GuardError
from ..exit_policy import bad_sql, check_exit
from ..redact import redact
from . import report_error


def check_job(opts: CheckOptions, *, fmt: str, output: Path | None, show_statements: bool) -> int:
    """Run ``check`` with ``opts``; print (or write to ``output``) the report in ``fmt``."""
    from ..report import render
    from ..terminal import ProgressLine, color_enabled, terminal_width

    # mistakes that need no shadow are reported before the (slow) run starts
    _check_disabled(opts.disabled_rules)
    _check_writable(output)
    project = _project_with_revisions(opts)
    with ProgressLine() as progress:
        report = run_check(opts, progress=progress, project=project)
    if fmt == "text":  # rich, only for the format that needs it
        from ..report.text import render_text
    if output:
        text = redact(render_text(report, show_statements=show_statements)) if fmt == "text" else render(report, fmt)
        existed = output.exists()
        try:
            output.write_text(text)
        except OSError as exc:
            if not existed:  # no half-written report left behind
                output.unlink(missing_ok=True)
            raise GuardError(f"cannot write the report: {exc.strerror or exc}.", path=str(output)) from None
    else:
        color = color_enabled(sys.stdout)
        text = redact(render_text(report, color=color, width=terminal_width(),
                                  show_statements=show_statements)) if fmt == "text" else render(report, fmt)
        click.echo(text, nl=False, color=color)  # click would strip the colour FORCE_COLOR asked for
    for err in bad_sql(report):
        report_error(err)
    return check_exit(report)


def _project_with_revisions(opts: CheckOptions):
    """The loaded project (capture.project.load_project); GuardError when its version directories
    hold no revision script at all: there is nothing to check, and exit 0 would say "safe"."""
    from ..capture.project import load_project

    project = load_project(opts.config_file, opts.section, opts.x_args)
    dirs = project.version_dirs()
    if not any(f.suffix in (".py", ".pyc") for d in dirs if d.is_dir() for f in d.rglob("*.py*")):
        missing = [d for d in dirs if not d.is_dir()]
        what = (f"the versions directory {missing[0]} does not exist" if missing and len(missing) == len(dirs)
                else f"no revision script in {', '.join(map(str, dirs))}")
        raise GuardError(f"{what}: there is nothing to check.", path=str(project.config.config_file_name),
                         hint="Is script_location (or version_locations) right? `alembic revision` writes the "
                              "first revision.")
    return project


def _check_disabled(disabled) -> None:
    """``--disable`` ids must name rules (did-you-mean otherwise)."""
    if disabled:
        from ..check_config import check_rule_ids

        check_rule_ids(disabled, "--disable")


def _check_writable(output: Path | None) -> None:
    """``-o`` must be writable before anything runs: its directory exists and may be written."""
    if output is None:
        return
    parent = output.parent
    if not parent.exists():
        raise GuardError(f"cannot write the report here: the directory {parent} does not exist.",
                         path=str(output), hint="Create it first, or name another --output.")
    if not parent.is_dir():
        raise GuardError(f"cannot write the report here: {parent} is not a directory.", path=str(output))
    existed = output.exists()
    try:  # the one reliable test (permissions, read-only file systems, root): open it for appending
        with open(output, "a"):
            pass
    except OSError as exc:
        raise GuardError(f"cannot write the report here: {exc.strerror or exc}.", path=str(output)) from None
    if not existed:
        output.unlink(missing_ok=True)
