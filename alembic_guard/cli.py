"""Command line: ``alembic-guard check`` (and friends). Exit status: 0 nothing reaches --fail-on,
1 something does, 2 usage or tool error (one paragraph on stderr naming file and line)."""

from __future__ import annotations

import signal
import sys
from pathlib import Path

import click

from . import __version__
from .errors import GuardError
from .shadow import PROVIDERS

SEVERITY_RANK = {"info": 0, "warning": 1, "error": 2}


def _fail(err: GuardError) -> None:
    click.echo(f"alembic-guard: {err.paragraph()}", err=True)
    sys.exit(2)


def _terminate(signum, frame):  # SIGTERM → unwind so every shadow is stopped and temp dir removed
    raise KeyboardInterrupt


def _syntax_errors(report) -> list[GuardError]:
    out = []
    for rev in report.revisions:
        for st in rev.statements:
            if st.observation.sqlstate == "42601":
                out.append(GuardError(f"SQL that does not parse in revision {rev.revision}: {st.observation.error}",
                                      path=st.path, line=st.line))
    return out


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, "-V", "--version", prog_name="alembic-guard")
def main() -> None:
    """Migration safety analyzer for Alembic on PostgreSQL."""


@main.command()
@click.option("-c", "--config", "config_file", default="alembic.ini", show_default=True,
              help="Alembic config file.")
@click.option("-n", "--name", "section", default="alembic", show_default=True, help="Section of the config file.")
@click.option("-x", "x_args", multiple=True, metavar="KEY=VALUE", help="Passed to env.py as context.get_x_argument().")
@click.option("--from", "from_rev", metavar="REV", help="Apply up to REV untraced, then trace what follows.")
@click.option("--to", "to_rev", metavar="REV", help="Trace up to REV (default: all heads).")
@click.option("-f", "--format", "fmt", type=click.Choice(["text", "markdown", "json", "sarif", "github", "gitlab"]),
              default="text", show_default=True)
@click.option("-o", "--output", type=click.Path(dir_okay=False, path_type=Path), help="Write the report here.")
@click.option("--fail-on", type=click.Choice(["error", "warning", "info", "never"]), default=None,
              help="Lowest finding severity that makes the exit status 1 (default: [tool.alembic-guard] "
                   "fail-on, else error).")
@click.option("--fail-on-unknown/--no-fail-on-unknown", default=None,
              help="Whether a revision with a statement the trace did not see (verdict \"unknown\") makes the "
                   "exit status 1 (default: [tool.alembic-guard] fail-on-unknown, else yes).")
@click.option("--shadow", type=click.Choice(["auto", *PROVIDERS]), default=None,
              help="Shadow provider (default auto: url, cluster, local, docker, embedded). Env: ALEMBIC_GUARD_SHADOW.")
@click.option("--shadow-url", metavar="URL",
              help="A PostgreSQL server to use as shadow; a scratch database is created and dropped in it. "
                   "Env: ALEMBIC_GUARD_SHADOW_URL.")
@click.option("--pg-version", type=int, help="Preferred PostgreSQL major version among local binaries.")
@click.option("--disable", "disabled", multiple=True, metavar="RULE", help="Do not run this rule.")
@click.option("--stats-url", metavar="URL", envvar="ALEMBIC_GUARD_STATS_URL",
              help="Read table sizes from this (production) server, read-only, to size the findings.")
@click.option("--stats-file", type=click.Path(exists=True, dir_okay=False),
              help="Table sizes from a JSON file made by `alembic-guard stats`.")
@click.option("--changed-since", metavar="GIT_REF",
              help="Trace the whole history but report only the revisions added or changed since GIT_REF "
                   "(its merge base with HEAD; uncommitted and untracked revision files count).")
@click.option("--baseline", "baseline_file", metavar="FILE",
              help="Accept the findings recorded in FILE (see --write-baseline): shown as suppressed, not counted.")
@click.option("--write-baseline", metavar="FILE",
              help="Write today's findings to FILE as the baseline, and accept them in this run.")
@click.option("--show-statements", is_flag=True, help="List every statement with its duration, rewrites and scans.")
@click.option("-v", "--verbose", is_flag=True, help="Show Alembic's own log lines.")
def check(config_file, section, x_args, from_rev, to_rev, fmt, output, fail_on, fail_on_unknown, shadow, shadow_url,
          pg_version, disabled, stats_url, stats_file, changed_since, baseline_file, write_baseline,
          show_statements, verbose) -> None:
    """Trace every revision on a shadow PostgreSQL and report its lock risk."""
    from .check import CheckOptions, run_check
    from .report import render
    from .report.text import render_text
    from .terminal import ProgressLine, color_enabled, terminal_width

    signal.signal(signal.SIGTERM, _terminate)
    try:  # mistakes that need no shadow are reported before the (slow) run starts
        _check_disabled(disabled)
        _check_writable(output)
    except GuardError as err:
        _fail(err)
    opts = CheckOptions(config_file=config_file, section=section, x_args=list(x_args), from_rev=from_rev,
                        to_rev=to_rev, shadow=None if shadow == "auto" else shadow, shadow_url=shadow_url,
                        pg_version=pg_version, disabled_rules=list(disabled), verbose=verbose, fail_on=fail_on,
                        fail_on_unknown=fail_on_unknown,
                        stats_url=stats_url, stats_file=stats_file, changed_since=changed_since,
                        baseline=baseline_file, write_baseline=write_baseline)
    try:
        with ProgressLine() as progress:
            report = run_check(opts, progress=progress)
    except GuardError as err:
        _fail(err)
    except KeyboardInterrupt:
        click.echo("alembic-guard: interrupted; the shadow was stopped and its files removed.", err=True)
        sys.exit(130)
    if output:
        text = render_text(report, show_statements=show_statements) if fmt == "text" else render(report, fmt)
        try:
            output.write_text(text)
        except OSError as exc:
            _fail(GuardError(f"cannot write the report: {exc.strerror or exc}.", path=str(output)))
    else:
        color = color_enabled(sys.stdout)
        text = render_text(report, color=color, width=terminal_width(),
                           show_statements=show_statements) if fmt == "text" else render(report, fmt)
        click.echo(text, nl=False, color=color)  # click would strip the colour FORCE_COLOR asked for
    errors = _syntax_errors(report)
    if errors:
        for err in errors:
            click.echo(f"alembic-guard: {err.paragraph()}", err=True)
        sys.exit(2)
    fail_on = report.fail_on
    if fail_on != "never":
        threshold = SEVERITY_RANK[fail_on]
        if any(SEVERITY_RANK.get(f.severity, 0) >= threshold for f in report.findings() if not f.suppressed) \
                or any(r.verdict == "error" for r in report.revisions) \
                or (report.fail_on_unknown and any(r.verdict == "unknown" for r in report.revisions)):
            sys.exit(1)
    sys.exit(0)


@main.command("revision")
@click.option("-c", "--config", "config_file", default="alembic.ini", show_default=True)
@click.option("-n", "--name", "section", default="alembic", show_default=True)
@click.option("-x", "x_args", multiple=True, metavar="KEY=VALUE")
@click.option("-m", "--message", required=True, help="The revision message.")
@click.option("--autogenerate/--empty", default=True, show_default=True,
              help="Compare the models with the shadow at head (default), or write an empty revision.")
@click.option("--rev-id", help="Revision id to use instead of a generated one.")
@click.option("--shadow", type=click.Choice(["auto", *PROVIDERS]), default=None)
@click.option("--shadow-url", metavar="URL")
@click.option("-v", "--verbose", is_flag=True)
def revision_command(config_file, section, x_args, message, autogenerate, rev_id, shadow, shadow_url, verbose):
    """`alembic revision --autogenerate` against a shadow upgraded to head: no database of yours needed.

    With alembic_guard.process_revision_directives in env.py, unsafe operations come out rewritten
    into safe ones and verified on the shadow."""
    from .revision import run_revision

    signal.signal(signal.SIGTERM, _terminate)
    try:
        paths = run_revision(config_file, message, section=section, x_args=list(x_args), autogenerate=autogenerate,
                             rev_id=rev_id, shadow=None if shadow == "auto" else shadow, shadow_url=shadow_url,
                             verbose=verbose)
    except GuardError as err:
        _fail(err)
    except KeyboardInterrupt:
        click.echo("alembic-guard: interrupted; the shadow was stopped and its files removed.", err=True)
        sys.exit(130)
    for path in paths:
        click.echo(f"Generated {path}")


@main.command("stats")
@click.option("--url", required=True, envvar="ALEMBIC_GUARD_STATS_URL", metavar="URL",
              help="The production database (read-only connection; only catalog statistics are read).")
def stats_command(url: str) -> None:
    """Print production table sizes as JSON, for `check --stats-file`."""
    from .stats import dump_stats, read_stats_url

    try:
        click.echo(dump_stats(read_stats_url(url)), nl=False)
    except GuardError as err:
        _fail(err)


def _check_disabled(disabled) -> None:
    """``--disable`` ids must name rules (did-you-mean otherwise)."""
    if disabled:
        from .check_config import check_rule_ids

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


@main.command("explain")
@click.argument("rule_id", metavar="RULE")
def explain(rule_id: str) -> None:
    """Print a rule's page (what it reports, why, the safe alternative, how to suppress it)."""
    from .check_config import rule_ids
    from .rules import all_rules
    from .rules.docs import rule_page
    from .terminal import color_enabled, render_page, terminal_width

    rules = {r.id: r for r in all_rules()}
    if rule_id not in rules:
        extra = {"revision-fails": "the revision fails on the shadow PostgreSQL (the finding carries "
                                   "PostgreSQL's message); it is always an error.",
                 "suppression-without-reason": "an inline `# alembic-guard: ignore[rule]` comment gives no "
                                               "reason; write why the statement is safe after the bracket."}
        if rule_id in extra:
            click.echo(f"{rule_id}: {extra[rule_id]}")
            return
        from .errors import did_you_mean

        _fail(GuardError(f"no rule {rule_id!r}{did_you_mean(rule_id, rule_ids())}.",
                         hint="`alembic-guard rules` lists every rule id."))
    color = color_enabled(sys.stdout)
    click.echo(render_page(rule_page(rules[rule_id]), color=color, width=terminal_width()), nl=False, color=color)


@main.command("rules")
def list_rules() -> None:
    """List every rule with its id, default severity and title."""
    from .rules import all_rules

    for rule in all_rules():
        click.echo(f"{rule.id:40} {rule.severity:8} {rule.title}")


@main.command("fix")
@click.argument("revisions", nargs=-1, required=True, metavar="REV...")
@click.option("--write", is_flag=True, help="Write the rewritten files (default: print a unified diff).")
@click.option("-c", "--config", "config_file", default="alembic.ini", show_default=True, help="Alembic config file.")
@click.option("-n", "--name", "section", default="alembic", show_default=True, help="Section of the config file.")
@click.option("-x", "x_args", multiple=True, metavar="KEY=VALUE", help="Passed to env.py as context.get_x_argument().")
@click.option("-f", "--format", "fmt", type=click.Choice(["text", "markdown"]), default="text", show_default=True)
@click.option("--lock-budget-ms", type=float, default=100.0, show_default=True,
              help="Longest a SHARE-or-stronger lock on an existing table may be held in a rewrite "
                   "(ms, on the shadow).")
@click.option("--shadow", type=click.Choice(["auto", *PROVIDERS]), default=None, help="Shadow provider.")
@click.option("--shadow-url", metavar="URL", help="A PostgreSQL server to use as shadow.")
@click.option("--pg-version", type=int, help="Preferred PostgreSQL major version among local binaries.")
def fix(revisions, write, config_file, section, x_args, fmt, lock_budget_ms, shadow, shadow_url, pg_version) -> None:
    """Rewrite unsafe operations of revisions REV... into safe ones, proven on a shadow PostgreSQL.
    Exit status: 0 all safe or fixed, 1 something stays unsafe (refused or rejected), 2 error."""
    from .rewrite.cli import fix_command

    signal.signal(signal.SIGTERM, _terminate)
    fix_command(list(revisions), write=write, config_file=config_file, section=section, x_args=list(x_args),
                fmt=fmt, lock_budget_ms=lock_budget_ms, shadow=None if shadow == "auto" else shadow,
                shadow_url=shadow_url, pg_version=pg_version)


if __name__ == "__main__":
    main()
