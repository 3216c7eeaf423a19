"""The ``check`` job: load the project, trace its revisions on a shadow, judge them."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from dataclasses import dataclass, field

from . import __version__
from .baseline import baseline_step, read_baseline
from .capture import inputs
from .capture.project import load_project
from .changes import changed_files, keep_changed
from .capture.redirect import redirect_connections
from .capture.runner import Runner
from .check_config import check_suppressions, load_check_config
from .incremental import Incremental
from .model import Report
from .shadow import obtain_shadow
from .shadow.scratch import lazy_scratch_database
from .stats import read_stats_file, read_stats_url


@dataclass
class CheckOptions:
    config_file: str = "alembic.ini"
    section: str = "alembic"
    x_args: list[str] = field(default_factory=list)
    from_rev: str | None = None
    to_rev: str | None = None
    shadow: str | None = None  # provider choice, None = auto
    shadow_url: str | None = None
    pg_version: int | None = None  # target major version (--target-version); None: the config's, else any
    disabled_rules: list[str] = field(default_factory=list)
    verbose: bool = False
    fail_on: str | None = None  # None: [tool.alembic-guard] fail-on, else "error"
    fail_on_unknown: bool | None = None  # None: [tool.alembic-guard] fail-on-unknown, else True
    stats_url: str | None = None  # production server to read table sizes from (read-only)
    stats_file: str | None = None  # or a JSON file of them (alembic-guard stats)
    changed_since: str | None = None  # git ref: report only the revisions changed since it (changes.py)
    baseline: str | None = None  # baseline file of accepted findings (baseline.py)
    write_baseline: str | None = None  # write today's findings there (and accept them)
    no_cache: bool = False  # neither read nor write the incremental cache (alembic_guard/incremental)
    check_downgrades: bool | None = None  # None: [tool.alembic-guard] check-downgrades, else "auto"


def check_range(project, from_rev: str | None, to_rev: str | None) -> None:
    """Raise GuardError (naming the config file) for a ``--from`` / ``--to`` that names no revision,
    or a ``--to`` that is not ``--from`` or after it, saying which revisions exist."""
    from .errors import GuardError

    script = project.script
    where = str(project.config.config_file_name)
    known = [sc.revision for sc in project.ordered()]
    listed = ", ".join(known[:8]) + (f" … ({len(known)} in all)" if len(known) > 8 else "")
    found = {}
    for flag, rev in (("--from", from_rev), ("--to", to_rev)):
        if not rev or rev in ("base", "heads"):
            continue
        try:
            sc = script.get_revision(script.get_current_head() if rev == "head" else rev)
        except Exception as exc:  # ambiguous prefix, unknown id
            raise GuardError(f"{flag} {rev!r} names no revision of this project ({exc}); the revisions are: "
                             f"{listed}.", path=where) from None
        if sc is None:
            raise GuardError(f"{flag} {rev!r} names no revision of this project; the revisions are: {listed}.",
                             path=where)
        found[flag] = sc.revision
    if "--from" in found and "--to" in found and found["--from"] != found["--to"]:
        try:
            between = list(script.iterate_revisions(found["--to"], found["--from"]))
        except Exception:
            between = []
        if not between:
            try:
                reversed_ = bool(list(script.iterate_revisions(found["--from"], found["--to"])))
            except Exception:
                reversed_ = False
            if reversed_:
                raise GuardError(f"--to {to_rev!r} does not come after --from {from_rev!r} (are they reversed?); "
                                 f"the history runs {known[0] if known else 'base'} → "
                                 f"{known[-1] if known else 'head'}.", path=where)
            raise GuardError(f"--to {to_rev!r} does not descend from --from {from_rev!r}: they are on different "
                             "branches of the history, so no upgrade runs from one to the other.",
                             path=where, hint="Give a --from that is an ancestor of --to (their common base, "
                                              "for instance), or check each branch on its own.")


def _downgrades(opts: CheckOptions, config, project, server, revisions, changed, root: Path) -> list[str]:
    """Run the downgrades ``check-downgrades`` asks for (capture/downgrade.py); the report's notes."""
    from .capture.downgrade import check_downgrades, revisions_to_check
    from .rules.downgrade_does_not_restore_schema import DowngradeDoesNotRestoreSchema

    if DowngradeDoesNotRestoreSchema.id in (*config.disable, *opts.disabled_rules):
        return []
    mode = opts.check_downgrades if opts.check_downgrades is not None else config.check_downgrades
    keep = changed.revisions(project.revision_paths(), root) if changed is not None else None
    wanted = revisions_to_check(mode, revisions, changed=keep, from_rev=opts.from_rev)
    return check_downgrades(project, server, revisions, wanted, verbose=opts.verbose) if wanted else []


def run_check(opts: CheckOptions, progress: Callable[[int, int, str, str], None] | None = None,
              project=None) -> Report:
    """Trace and judge; returns the Report. Raises GuardError for bad input or no shadow.

    The shadow server and its scratch database are always stopped/dropped, also on errors and Ctrl-C.
    No project code runs before the shadow is up and every connection is redirected to it; the only
    connection to another server is the read-only ``stats_url`` one, made first, when asked for.
    ``progress(n, total, revision, message)`` is called as the trace starts each revision.
    """
    t0 = time.perf_counter()
    # ``project``: an already loaded one (e.g. a temporary copy with a revision added, mcp_server.py)
    project = project or load_project(opts.config_file, opts.section, opts.x_args)
    config = load_check_config(Path(project.config.config_file_name or ".").parent)
    check_suppressions(project.version_dirs())
    root = Path(opts.config_file).resolve().parent
    # git and the baseline file are read before the shadow starts: their errors come at once
    changed = changed_files(opts.changed_since, project.version_dirs(), root) if opts.changed_since else None
    baseline = read_baseline(opts.baseline) if opts.baseline else None
    sizes = None
    if opts.stats_file or config.stats_file:
        sizes = read_stats_file(opts.stats_file or config.stats_file)
    elif opts.stats_url:
        sizes = read_stats_url(opts.stats_url)
    with obtain_shadow(opts.shadow, opts.shadow_url, opts.pg_version or config.target_version) as server:
        # created only if needed: a revision script that connects as it loads, a cold run
        with lazy_scratch_database(server) as scratch:
            # The revision scripts run only now, connections redirected to the shadow.
            # what the revisions read besides their own files (an SQL file, a helper elsewhere): inputs
            # of the incremental cache like the files themselves (capture/inputs.py)
            with inputs.recording([project.script.dir, *project.version_dirs()]) as read:
                with redirect_connections(server, scratch, project.version_dirs()):
                    project.load_revisions()
                check_range(project, opts.from_rev, opts.to_rev)
                inc = Incremental.prepare(project, server, from_rev=opts.from_rev, to_rev=opts.to_rev,
                                          config_file=opts.config_file, section=opts.section, x_args=opts.x_args,
                                          enabled=not opts.no_cache, production_roles=config.production_roles)
                with inc.database(scratch) as run_db:
                    runner = Runner(project, server, run_db, verbose=opts.verbose, progress=progress,
                                    preapplied=inc.preapplied)
                    traced = runner.run(inc.runner_from(opts.from_rev), opts.to_rev) if inc.needs_trace else []
                    revisions = inc.finish(traced, runner, run_db, read)
        runner.notes += _downgrades(opts, config, project, server, revisions, changed, root)
        # judged again, except what an earlier check judged with the same inputs (incremental/judged.py)
        inc.judge(revisions, server.version_num, disabled=[*config.disable, *opts.disabled_rules],
                  severity=config.severity, sizes=sizes, config_source=config.source)
        report = Report(tool_version=__version__, shadow_provider=server.provider,
                        server_version=server.version, server_version_num=server.version_num,
                        config=str(project.config.config_file_name), revisions=revisions,
                        tool_errors=list(runner.tool_errors), notes=list(runner.notes),
                        transaction_mode=getattr(runner, "transaction_mode", ""))
        report.notes += inc.notes
    from .doctor import diagnose

    files = [f for d in project.version_dirs() for f in sorted(Path(d).rglob("*.py"))]
    report.notes += [f"env.py doctor: {f.path}:{f.line}: [{f.id}] {f.message} (alembic-guard doctor shows the fix)"
                     for f in diagnose(project.env_path, files)]
    report.notes += baseline_step(report.revisions, baseline=baseline, write=opts.write_baseline, root=root)
    if changed is not None:
        keep_changed(report, changed, project.revision_paths(), root)
    report.duration_ms = (time.perf_counter() - t0) * 1000
    report.fail_on = opts.fail_on or config.fail_on or "error"
    report.fail_on_unknown = next(v for v in (opts.fail_on_unknown, config.fail_on_unknown, True) if v is not None)
    return report
