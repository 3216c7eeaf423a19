"""What a waiting step waits for: the lock probe thread that looks at ``pg_locks`` /
``pg_blocking_pids()`` from a side connection while a step runs, the description of those waits,
and the cancelling of (non anti-wraparound) autovacuum workers that block a step."""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Iterator
from typing import Any

from sqlalchemy import exc as sa_exc
from sqlalchemy import text

from ._log import log


_BLOCKERS_SQL = text(r"""
SELECT w.locktype, w.mode,
       CASE WHEN w.relation IS NOT NULL THEN w.relation::regclass::text END AS relation,
       b.pid, b.application_name, b.state,
       (extract(epoch FROM clock_timestamp() - b.xact_start) * 1000)::bigint AS xact_ms,
       left(regexp_replace(b.query, '\s+', ' ', 'g'), 160) AS query,
       (SELECT string_agg(DISTINCT h.mode, ',') FROM pg_locks h
         WHERE h.pid = b.pid AND h.granted AND h.locktype = w.locktype
           AND h.relation IS NOT DISTINCT FROM w.relation) AS held
FROM pg_locks w
LEFT JOIN LATERAL unnest(pg_blocking_pids(w.pid)) AS bp(pid) ON true
LEFT JOIN pg_stat_activity b ON b.pid = bp.pid
WHERE w.pid = :pid AND NOT w.granted
""")


_AUTOVACUUM_BLOCKERS_SQL = text(r"""
SELECT DISTINCT b.pid, left(b.query, 160)
FROM pg_locks w
CROSS JOIN LATERAL unnest(pg_blocking_pids(w.pid)) AS bp(pid)
JOIN pg_stat_activity b ON b.pid = bp.pid
WHERE w.pid = :pid AND NOT w.granted AND b.backend_type = 'autovacuum worker'
  AND b.query NOT LIKE '%to prevent wraparound%'
""")


class _Attempt:
    def __init__(self, step: str, lock_timeout_ms: int):
        self.step = step
        self.lock_timeout_ms = lock_timeout_ms
        self.started = time.monotonic()
        first = min(max(lock_timeout_ms * 0.25, 50), 1000) / 1000 if lock_timeout_ms else 1.0
        self.next_poll = self.started + first
        self.seen: str | None = None


class _BlockerProbe:
    """While a step waits, look from a second connection at what it waits for (pg_locks,
    pg_blocking_pids(), pg_stat_activity): a 55P03 error itself does not say which lock it was.

    One watcher thread per Runner (started on first use); an attempt costs a lock and a notify.
    It polls once a quarter of the way to lock_timeout (at least 50 ms, at most 1 s in), then every
    10 s, logging a warning while a step has waited 10 s or more (steps without lock_timeout wait
    indefinitely).

    A step under ``lock_timeout`` that waits for an *autovacuum* worker has it cancelled, as
    PostgreSQL itself does to autovacuum (never to an anti-wraparound one) once a lock request has
    waited ``deadlock_timeout``: with ``lock_timeout`` ≤ ``deadlock_timeout`` (1 s both by default)
    the request would time out first, every retry would queue the application behind it for the
    whole ``lock_timeout`` again, and a backfill of many rows is exactly what starts an autovacuum
    of the table just before the next step needs its lock. Needs the right to signal autovacuum
    workers (superuser, or ``pg_signal_autovacuum_worker`` on PostgreSQL 18); without it the step
    waits and retries as before.
    """

    INTERVAL = 10.0

    def __init__(self, runner: BlockerLookups):
        self.runner = runner
        self._cond = threading.Condition()
        self._current: _Attempt | None = None
        self._closed = False
        self._thread: threading.Thread | None = None

    @contextlib.contextmanager
    def watch(self, step: str, lock_timeout_ms: int) -> Iterator[_Attempt]:
        attempt = _Attempt(step, lock_timeout_ms)
        if self.runner.backend_pid is None:
            yield attempt
            return
        with self._cond:
            if self._thread is None:
                self._thread = threading.Thread(target=self._loop, name="alembic-guard-lock-probe", daemon=True)
                self._thread.start()
            self._current = attempt
            self._cond.notify()
        try:
            yield attempt
        finally:
            with self._cond:
                self._current = None

    def close(self) -> None:
        with self._cond:
            self._closed = True
            self._cond.notify()
        if self._thread is not None:
            self._thread.join(5)

    def _loop(self) -> None:
        with self._cond:
            while not self._closed:
                attempt = self._current
                if attempt is None:
                    self._cond.wait()
                    continue
                now = time.monotonic()
                if now < attempt.next_poll:
                    self._cond.wait(attempt.next_poll - now)
                    continue
                self._cond.release()
                try:
                    seen = self.runner.describe_waits()
                except Exception as exc:  # the probe must never break the migration
                    log.debug("lock probe failed: %s", exc)
                    seen = None
                finally:
                    self._cond.acquire()
                attempt.next_poll = time.monotonic() + self.INTERVAL
                if seen and attempt.lock_timeout_ms and self._current is attempt and "autovacuum" in seen:
                    self._cond.release()
                    try:
                        self.runner.cancel_autovacuum_blockers(attempt.step)
                    except Exception as exc:  # never break the migration
                        log.debug("cancelling autovacuum failed: %s", exc)
                    finally:
                        self._cond.acquire()
                if seen and self._current is attempt:
                    attempt.seen = seen
                    waited = time.monotonic() - attempt.started
                    if waited >= self.INTERVAL:
                        log.warning("%s: still waiting after %.0f s for %s", attempt.step, waited, seen)


class BlockerLookups:
    """The side-connection look-ups of a :class:`~alembic_guard.ops._runner.Runner` (mixed into it):
    what its backend waits for, and cancelling autovacuum workers in the way."""

    backend_pid: int | None
    _side: Any
    _autovacuum_denied: bool
    conn: Any

    # -- the lock probe's side look-up -----------------------------------------------------------
    def _side_conn(self) -> Any:
        if self._side is None:
            self._side = self.conn.engine.connect().execution_options(isolation_level="AUTOCOMMIT")
        return self._side

    def cancel_autovacuum_blockers(self, step: str) -> list[int]:
        """Cancel the (non anti-wraparound) autovacuum workers the migration backend waits for,
        from the side connection; returns their pids. Logs instead of raising when not allowed."""
        side = self._side_conn()
        cancelled = []
        for pid, query in list(side.execute(_AUTOVACUUM_BLOCKERS_SQL, {"pid": self.backend_pid})):
            try:
                ok = bool(side.execute(text("SELECT pg_cancel_backend(:pid)"), {"pid": pid}).scalar())
            except sa_exc.DBAPIError as exc:
                if not self._autovacuum_denied:
                    log.info("%s: waits for %s; not allowed to cancel it (%s), waiting and retrying instead",
                             step, query, str(getattr(exc, "orig", exc)).splitlines()[0])
                self._autovacuum_denied = True
                continue
            if ok:
                cancelled.append(pid)
                log.warning("%s: cancelled pid %d (%s), which held the lock it waits for; PostgreSQL "
                            "would do the same after deadlock_timeout, but lock_timeout comes first", step, pid, query)
        return cancelled

    def describe_waits(self) -> str | None:
        """What the migration backend waits for right now, from a second connection; None if nothing."""
        rows = list(self._side_conn().execute(_BLOCKERS_SQL, {"pid": self.backend_pid}))
        if not rows:
            return None
        by_lock: dict[tuple[str, str, str], list[str]] = {}
        for locktype, mode, relation, pid, app, state, xact_ms, query, held in rows:
            key = (locktype, mode, relation or "")
            blockers = by_lock.setdefault(key, [])
            if pid is not None:
                age = f", transaction open {xact_ms / 1000:.1f} s" if xact_ms is not None else ""
                holds = f", holds {held}" if held else ""
                blockers.append(f"pid {pid} ({app or 'no application_name'}, {state}{age}{holds}: {query})")
        parts = []
        for (locktype, mode, relation), blockers in by_lock.items():
            what = f"{mode} on {locktype} {relation}".rstrip()
            parts.append(what + (" blocked by " + "; ".join(blockers) if blockers else ""))
        return " | ".join(parts)
