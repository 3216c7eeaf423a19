"""Command line: options are parsed here and handed to one job per command (alembic_guard.jobs);
the exit status is exit_policy's: 0 ok, 1 unsafe (per --fail-on), 2 bad input or tool error (one
paragraph on stderr naming file and line), 130 interrupted."""

from __future__ import annotations

import signal
import sys
from pathlib import Path

import click

from . import __version__
from .shadow import PROVIDERS


def _terminate(signum, frame):  # SIGTERM → unwind so every shadow is stopped and temp dir removed
    raise KeyboardInterrupt


def _run(job) -> None:
    """Run a job (a callable returning the exit status), then exit with that status."""
    from .jobs import run_job

    signal.signal(signal.SIGTERM, _terminate)
    sys.exit(run_job(job))


# Click ≥ 8.2 raises it for a group called with no command; older Clicks print the help themselves
_NO_ARGS_IS_HELP = getattr(click.exceptions, "NoArgsIsHelpError", ())


class _Commands(click.Group):
    """The command group, with Click's usage errors as one ``alembic-guard:`` paragraph (exit 2)
    instead of its three-line usage block: every bad-input message of the tool looks the same."""

    def main(self, args=None, prog_name=None, complete_var=None, standalone_mode=True, **extra):
        try:
            status = super().main(args, prog_name, complete_var, standalone_mode=False, **extra)
        except _NO_ARGS_IS_HELP as exc:  # `alembic-guard` alone: Click's help text, as Click shows it
            click.echo(exc.format_message(), err=True)
            sys.exit(2)
        except click.UsageError as exc:  # a bad option value, an unknown option or command, a missing argument
            where = exc.ctx.command_path if exc.ctx is not None else "alembic-guard"
            message = exc.format_message()
            stop = "" if message.endswith((".", "?", "!")) else "."
            click.echo(f"alembic-guard: {message}{stop} `{where} --help` lists the options.", err=True)
            sys.exit(2)
        except click.ClickException as exc:
            click.echo(f"alembic-guard: {exc.format_message()}", err=True)
            sys.exit(exc.exit_code)
        except click.Abort:  # Ctrl-C while Click itself was reading (a prompt): as an interrupted job
            sys.exit(130)
        sys.exit(status if isinstance(status, int) else 0)


@click.group(cls=_Commands, context_settings={"help_option_names": ["-h", "--help"]})
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
@click.option("--target-version", "--pg-version", "pg_version", type=int, metavar="MAJOR",
              help="The PostgreSQL major production runs: the shadow is a server of exactly that major, or exit 2 "
                   "(default: [tool.alembic-guard] target-version, else any).")
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
@click.option("--no-cache", is_flag=True,
              help="Trace every revision: neither reuse nor keep the schema states and traces of earlier checks.")
@click.option("--show-statements", is_flag=True, help="List every statement with its duration, rewrites and scans.")
@click.option("-v", "--verbose", is_flag=True, help="Show Alembic's own log lines.")
@click.option("--check-downgrades/--no-check-downgrades", default=None,
              help="Run each revision's downgrade() on the shadow after its upgrade and compare the schema "
                   "(default: [tool.alembic-guard] check-downgrades, else only the revisions reported with "
                   "--changed-since or --from).")
def check(config_file, section, x_args, from_rev, to_rev, fmt, output, fail_on, fail_on_unknown, shadow, shadow_url,
          pg_version, disabled, stats_url, stats_file, changed_since, baseline_file, write_baseline,
          no_cache, show_statements, verbose, check_downgrades) -> None:
    """Trace every revision on a shadow PostgreSQL and report its lock risk."""
    from .check import CheckOptions
    from .jobs.check import check_job

    opts = CheckOptions(config_file=config_file, section=section, x_args=list(x_args), from_rev=from_rev,
                        to_rev=to_rev, shadow=None if shadow == "auto" else shadow, shadow_url=shadow_url,
                        pg_version=pg_version, disabled_rules=list(disabled), verbose=verbose, fail_on=fail_on,
                        fail_on_unknown=fail_on_unknown,
                        stats_url=stats_url, stats_file=stats_file, changed_since=changed_since,
                        baseline=baseline_file, write_baseline=write_baseline, no_cache=no_cache,
                        check_downgrades=check_downgrades)
    _run(lambda: check_job(opts, fmt=fmt, output=output, show_statements=show_statements))


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
@click.option("--target-version", "target", type=int, metavar="MAJOR",
              help="The shadow's PostgreSQL major (default: [tool.alembic-guard] target-version, else any).")
@click.option("-v", "--verbose", is_flag=True)
def revision_command(config_file, section, x_args, message, autogenerate, rev_id, shadow, shadow_url, target, verbose):
    """`alembic revision --autogenerate` against a shadow upgraded to head: no database of yours needed.

    With alembic_guard.process_revision_directives in env.py, unsafe operations come out rewritten
    into safe ones and verified on the shadow."""
    from .jobs.revision import revision_job

    _run(lambda: revision_job(config_file, message, section=section, x_args=list(x_args), autogenerate=autogenerate,
                              rev_id=rev_id, shadow=None if shadow == "auto" else shadow, shadow_url=shadow_url,
                              verbose=verbose, target=target))


@main.command("upgrade")
@click.argument("target", default="heads")
@click.option("-c", "--config", "config_file", default="alembic.ini", show_default=True)
@click.option("-n", "--name", "section", default="alembic", show_default=True)
@click.option("-x", "x_args", multiple=True, metavar="KEY=VALUE")
@click.option("--dry-run", is_flag=True, help="Print the plan (revisions, timeouts, check verdicts); change nothing.")
@click.option("--lock-timeout", "lock_timeout", metavar="DURATION",
              help="lock_timeout per revision, e.g. 2s (default: [tool.alembic-guard] lock_timeout, 1s); a "
                   "revision's own alembic_guard = {'lock_timeout': ...} wins.")
@click.option("--statement-timeout", "statement_timeout", metavar="DURATION",
              help="statement_timeout per revision (default: none).")
@click.option("--wait-for-blockers", "wait_for_blockers", metavar="DURATION", default=None,
              help="Before a retry, wait up to this long for the sessions that held the lock to finish.")
@click.option("--allow-unsafe", "allow_unsafe", multiple=True, metavar="REV",
              help="Apply REV although check judged it unsafe.")
@click.option("--no-check", is_flag=True, help="Do not judge the pending revisions on a shadow first.")
@click.option("--shadow", type=click.Choice(["auto", *PROVIDERS]), default=None)
@click.option("--shadow-url", metavar="URL")
def upgrade_command(target, config_file, section, x_args, dry_run, lock_timeout, statement_timeout,
                    wait_for_blockers, allow_unsafe, no_check, shadow, shadow_url):
    """Run the project's own `alembic upgrade` one revision at a time against its database: lock_timeout
    per revision, retries with backoff while a session holds a conflicting lock (the blocker is named),
    a stop at a revision `check` judged unsafe, and a rerun resumes where it stopped."""
    from .deploy.run import UpgradeOptions
    from .jobs.upgrade import upgrade_job
    from .settings import parse_duration_ms

    def ms(value, name):
        return parse_duration_ms(value, name) if value is not None else None

    def job():
        opts = UpgradeOptions(
            config_file=config_file, section=section, x_args=list(x_args), target=target, dry_run=dry_run,
            lock_timeout_ms=ms(lock_timeout, "--lock-timeout"), statement_timeout_ms=ms(statement_timeout,
                                                                                       "--statement-timeout"),
            wait_for_blockers_s=(ms(wait_for_blockers, "--wait-for-blockers") or 0) / 1000,
            allow_unsafe=list(allow_unsafe), check=not no_check, shadow=None if shadow == "auto" else shadow,
            shadow_url=shadow_url)
        return upgrade_job(opts)

    _run(job)


@main.command("doctor")
@click.option("-c", "--config", "config_file", default="alembic.ini", show_default=True)
@click.option("-n", "--name", "section", default="alembic", show_default=True)
def doctor_command(config_file, section):
    """Find the env.py patterns that silently break migration safety, each with the corrected code."""
    from .jobs.doctor import doctor_job

    _run(lambda: doctor_job(config_file, section))


@main.command("mcp")
def mcp_command():
    """Serve check_revision, explain_rule and fix_revision to a coding agent over MCP (stdio)."""
    from .jobs import run_job
    from .mcp_server import serve

    def job():
        serve()
        return 0

    sys.exit(run_job(job))


@main.command("stats")
@click.option("--url", required=True, envvar="ALEMBIC_GUARD_STATS_URL", metavar="URL",
              help="The production database (read-only connection; only catalog statistics are read).")
def stats_command(url: str) -> None:
    """Print production table sizes as JSON, for `check --stats-file`."""
    from .jobs.info import stats_job

    _run(lambda: stats_job(url))


@main.command("explain")
@click.argument("rule_id", metavar="RULE")
def explain(rule_id: str) -> None:
    """Print a rule's page (what it reports, why, the safe alternative, how to suppress it)."""
    from .jobs.info import explain_job

    _run(lambda: explain_job(rule_id))


@main.command("rules")
def list_rules() -> None:
    """List every rule with its id, default severity and title."""
    from .jobs.info import rules_job

    _run(rules_job)


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
@click.option("--target-version", "--pg-version", "pg_version", type=int, metavar="MAJOR",
              help="The PostgreSQL major production runs: the shadow is a server of exactly that major, or exit 2 "
                   "(default: [tool.alembic-guard] target-version, else any).")
def fix(revisions, write, config_file, section, x_args, fmt, lock_budget_ms, shadow, shadow_url, pg_version) -> None:
    """Rewrite unsafe operations of revisions REV... into safe ones, proven on a shadow PostgreSQL.
    Exit status: 0 all safe or fixed, 1 something stays unsafe (refused or rejected), 2 error."""
    from .jobs.fix import fix_job

    _run(lambda: fix_job(list(revisions), write=write, config_file=config_file, section=section, x_args=list(x_args),
                         fmt=fmt, lock_budget_ms=lock_budget_ms, shadow=None if shadow == "auto" else shadow,
                         shadow_url=shadow_url, pg_version=pg_version))


if __name__ == "__main__":
    main(prog_name="alembic-guard")
