"""The retry policy of a step: which SQLSTATEs are retried, exponential backoff with full jitter
bounded by ``retry_attempts`` / ``retry_max_total_ms``, and :class:`LockRetryExhausted` when it
gives up."""

from __future__ import annotations

import random
import time
from collections.abc import Callable
from typing import TypeVar

from sqlalchemy import exc as sa_exc

from ..errors import GuardError
from ..settings import Settings
from ._blockers import _BlockerProbe
from ._log import log


T = TypeVar("T")

RETRYABLE_SQLSTATES = {
    "55P03": "lock_not_available (lock_timeout)",
    "40P01": "deadlock_detected",
    "40001": "serialization_failure",
}
STATEMENT_TIMEOUT_SQLSTATE = "57014"


class LockRetryExhausted(GuardError):
    """A step still hit lock_timeout / deadlock after all attempts or the total time budget.

    ``step`` describes the step, ``attempts`` is how many were made, ``waits`` lists what each
    attempt waited for (from ``pg_locks`` / ``pg_blocking_pids()``, when it could be seen).
    """

    def __init__(self, message: str, *, step: str, attempts: int, waits: list[str]):
        super().__init__(message, hint="Find the blocking session (pg_stat_activity) or raise "
                                       "retry_attempts / retry_max_total_ms / lock_timeout_ms.")
        self.step = step
        self.attempts = attempts
        self.waits = waits


def sqlstate_of(exc: BaseException) -> str | None:
    """SQLSTATE of a DBAPI error wrapped by SQLAlchemy (psycopg 3 ``sqlstate``, psycopg2 ``pgcode``)."""
    orig = getattr(exc, "orig", exc)
    return getattr(orig, "sqlstate", None) or getattr(orig, "pgcode", None)


def retry_step(settings: Settings, blocker_probe: _BlockerProbe, step: str, attempt: Callable[[], T],
               lock_timeout_ms: int) -> T:
    """Call ``attempt`` until it does not fail with a retryable SQLSTATE; exponential backoff
    with full jitter between attempts, bounded by ``retry_attempts`` and ``retry_max_total_ms``.
    ``blocker_probe`` watches each attempt for what it waits on. Raises LockRetryExhausted, or the first
    non-retryable error unchanged."""
    s = settings
    started = time.monotonic()
    waits: list[str] = []
    number = 0
    while True:
        number += 1
        attempt_started = time.monotonic()
        with blocker_probe.watch(step, lock_timeout_ms) as probe:
            try:
                result = attempt()
            except sa_exc.DBAPIError as exc:
                code = sqlstate_of(exc)
                if code not in RETRYABLE_SQLSTATES:
                    raise
                error = exc
            else:
                if number > 1:
                    log.info("%s: succeeded on attempt %d after %.1f s", step, number,
                             time.monotonic() - started)
                return result
        reason = RETRYABLE_SQLSTATES[code]
        waited_ms = (time.monotonic() - attempt_started) * 1000
        seen = probe.seen or _context_line(error) or "a lock held by another session (not seen by the probe)"
        waits.append(seen)
        elapsed_ms = (time.monotonic() - started) * 1000
        cap = min(s.retry_backoff_max_ms, s.retry_backoff_min_ms * 2 ** (number - 1))
        delay_ms = random.uniform(0, cap)
        if number >= s.retry_attempts or elapsed_ms + delay_ms > s.retry_max_total_ms:
            log.error("%s: attempt %d/%d failed after %.0f ms with %s waiting for %s; giving up",
                      step, number, s.retry_attempts, waited_ms, reason, seen)
            raise LockRetryExhausted(
                f"{step}: gave up after {number} attempt(s) in {elapsed_ms / 1000:.1f} s; "
                f"last {reason} waiting for {seen}.", step=step, attempts=number, waits=waits) from error
        log.warning("%s: attempt %d/%d failed after %.0f ms with %s waiting for %s; retrying in %.0f ms",
                    step, number, s.retry_attempts, waited_ms, reason, seen, delay_ms)
        time.sleep(delay_ms / 1000)


def _context_line(error: BaseException) -> str | None:
    """The CONTEXT of a lock-timeout error names the row for row locks ("while updating tuple")."""
    orig = getattr(error, "orig", None)
    diag = getattr(orig, "diag", None)
    context = getattr(diag, "context", None)
    return context.strip().splitlines()[0] if context else None
