"""The guarded upgrade loop (see deploy/__init__.py)."""

from __future__ import annotations

import logging
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from alembic import command
from tenacity import (RetryCallState, Retrying, retry_if_exception, stop_after_attempt, stop_after_delay,
                      wait_random_exponential)

from ..capture.project import Project, error_from_exception, load_project
from ..errors import GuardError
from ..ops._log import LOGGER_NAME
from ..settings import Settings, load_settings
from .plan import Step, current_heads, make_plan
from .sessions import Blocker, BlockerWatch, Sessions, configured, wait_for

LOCK_NOT_AVAILABLE = "55P03"  # lock_timeout expired ("PostgreSQL Error Codes", class 55)
DEADLOCK = "40P01"


@dataclass
class UpgradeOptions:
    config_file: str = "alembic.ini"
    section: str = "alembic"
    x_args: list[str] = field(default_factory=list)
    target: str = "heads"
    dry_run: bool = False
    lock_timeout_ms: int | None = None
    statement_timeout_ms: int | None = None
    wait_for_blockers_s: float = 0.0  # wait up to this long for the blockers before a retry
    allow_unsafe: list[str] = field(default_factory=list)
    check: bool = True  # run `check` on the shadow first; unsafe revisions stop the upgrade
    shadow: str | None = None
    shadow_url: str | None = None


@dataclass
class UpgradeResult:
    applied: list[str] = field(default_factory=list)
    stopped_at: str | None = None
    reason: str | None = None
    plan: list[Step] = field(default_factory=list)
    heads_before: tuple[str, ...] = ()

    @property
    def ok(self) -> bool:
        return self.stopped_at is None


def _sqlstate(exc: BaseException) -> str | None:
    while exc is not None:
        orig = getattr(exc, "orig", None)
        for e in (orig, exc):
            code = getattr(e, "sqlstate", None) or getattr(e, "pgcode", None)
            if code:
                return code
        exc = exc.__cause__ or exc.__context__
    return None


def _retryable(exc: BaseException) -> bool:
    return _sqlstate(exc) in (LOCK_NOT_AVAILABLE, DEADLOCK)


def _gate(opts: UpgradeOptions, steps: list[Step], heads: tuple[str, ...], say: Callable[[str], None]) -> None:
    """Judge the pending revisions on the shadow (``check``), fill each step's verdict."""
    from ..check import CheckOptions, run_check

    say("checking the pending revisions on a shadow PostgreSQL first …")
    report = run_check(CheckOptions(config_file=opts.config_file, section=opts.section, x_args=list(opts.x_args),
                                    shadow=opts.shadow, shadow_url=opts.shadow_url))
    by_id = {r.revision: r for r in report.revisions}
    for step in steps:
        rev = by_id.get(step.revision)
        if rev is None:
            continue
        step.verdict = rev.verdict
        step.findings = [f"{f.rule} (line {f.line}): {f.message}" for f in rev.findings
                         if f.severity == "error" and not f.suppressed]


def run_upgrade(opts: UpgradeOptions, say: Callable[[str], None] | None = None) -> UpgradeResult:
    """Apply the pending revisions one at a time (see the package doc). Never raises for a
    revision that fails or is refused: the result says where it stopped and why. Raises GuardError
    for bad input (config, revision graph, unreachable database)."""
    say = say or (lambda text: print(text, file=sys.stderr))
    from alembic.script import ScriptDirectory

    project = load_project(opts.config_file, opts.section, opts.x_args)
    # the user's own upgrade: their revision scripts may reach their database (not the shadow's guard)
    project.script = ScriptDirectory.from_config(project.config)
    project.load_revisions(real_database=True)
    settings = load_settings(Path(opts.config_file).resolve().parent)
    heads, steps = make_plan(project, opts.target, settings, lock_timeout_ms=opts.lock_timeout_ms,
                             statement_timeout_ms=opts.statement_timeout_ms)
    result = UpgradeResult(plan=steps, heads_before=heads)
    if opts.check and steps:
        _gate(opts, steps, heads, say)
    if opts.dry_run or not steps:
        return result
    with _ops_progress(say):
        for step in steps:
            refused = _refused(step, opts)
            if refused:
                result.stopped_at, result.reason = step.revision, refused
                return result
            if step.revision in current_heads(project):
                continue  # committed by an earlier run: never re-run
            error = _apply(project, step, settings, opts, say)
            if error:
                result.stopped_at, result.reason = step.revision, error
                return result
            result.applied.append(step.revision)
    return result


def _refused(step: Step, opts: UpgradeOptions) -> str | None:
    if step.verdict not in ("unsafe", "error"):
        return None
    if step.allow_unsafe or any(step.revision.startswith(a) for a in opts.allow_unsafe if a):
        return None
    why = "; ".join(step.findings) or "it fails on the shadow"
    return (f"check judged revision {step.revision} {step.verdict}: {why}. Make it safe (alembic-guard fix), or "
            f"pass --allow-unsafe {step.revision} to apply it anyway.")


def _apply(project: Project, step: Step, settings: Settings, opts: UpgradeOptions,
           say: Callable[[str], None]) -> str | None:
    """Apply one revision with retries; None when it committed, else why it did not."""
    sessions = Sessions(lock_timeout_ms=step.lock_timeout_ms, statement_timeout_ms=step.statement_timeout_ms)
    timeouts = (f"lock_timeout {step.lock_timeout_ms} ms" if step.lock_timeout_ms else "no lock_timeout") + \
        (f", statement_timeout {step.statement_timeout_ms} ms" if step.statement_timeout_ms else "")
    say(f"→ {step.revision} {step.message} ({timeouts})")
    started = time.monotonic()
    watch_box: dict[str, BlockerWatch] = {}

    def before_sleep(state: RetryCallState) -> None:
        seen: list[Blocker] = list(watch_box["w"].seen.values()) if "w" in watch_box else []
        who = "; ".join(b.describe() for b in seen) or "a session the watch did not catch"
        say(f"  attempt {state.attempt_number}/{step.attempts}: lock_timeout ({_sqlstate(state.outcome.exception())}) "
            f"waiting for {who}; retrying in {state.next_action.sleep:.1f} s")
        if opts.wait_for_blockers_s and seen:
            if not wait_for(seen, sessions, opts.wait_for_blockers_s, lambda t: say("  " + t)):
                say(f"  the blocking session(s) still run after {opts.wait_for_blockers_s:g} s; retrying anyway")

    retrying = Retrying(
        retry=retry_if_exception(_retryable), reraise=True, before_sleep=before_sleep,
        stop=stop_after_attempt(max(step.attempts, 1)) | stop_after_delay(settings.retry_max_total_ms / 1000),
        wait=wait_random_exponential(multiplier=settings.retry_backoff_min_ms / 1000,
                                     max=settings.retry_backoff_max_ms / 1000))
    try:
        for attempt in retrying:
            with attempt:
                if step.revision in current_heads(project):
                    break  # the previous attempt committed after all
                with configured(sessions), BlockerWatch(sessions) as watch:
                    watch_box["w"] = watch
                    command.upgrade(project.config, step.revision)
    except GuardError as exc:
        return exc.message
    except Exception as exc:
        if _retryable(exc):
            return f"revision {step.revision} still waited for a lock after {step.attempts} attempt(s): {exc}"
        return error_from_exception(exc, f"revision {step.revision} failed").message
    say(f"  ✓ {step.revision} applied in {time.monotonic() - started:.1f} s")
    return None


class _SayHandler(logging.Handler):
    def __init__(self, say: Callable[[str], None]):
        super().__init__(logging.INFO)
        self.say = say

    def emit(self, record: logging.LogRecord) -> None:
        self.say("  " + record.getMessage())


class _ops_progress:  # noqa: N801  (a context manager)
    """The safe operations' progress (backfill batches, retries) reaches the user during the
    upgrade whatever alembic.ini's logging says (the stock config hides INFO)."""

    def __init__(self, say: Callable[[str], None]):
        self.handler = _SayHandler(say)
        self.logger = logging.getLogger(LOGGER_NAME)

    def __enter__(self):
        self.level, self.propagate = self.logger.level, self.logger.propagate
        self.logger.addHandler(self.handler)
        self.logger.setLevel(logging.INFO)
        self.logger.propagate = False  # not twice through alembic.ini's console handler

    def __exit__(self, *exc):
        self.logger.removeHandler(self.handler)
        self.logger.setLevel(self.level)
        self.logger.propagate = self.propagate
