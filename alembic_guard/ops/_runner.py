"""Run the steps of a safe operation: each in its own short transaction (or outside any
transaction for CONCURRENTLY), with lock_timeout / statement_timeout, retried on lock timeouts.

Why our own BEGIN/COMMIT inside Alembic's ``autocommit_block()`` and not SAVEPOINTs in Alembic's
transaction:

* Locks are held until the *top-level* transaction ends. A lock taken inside a savepoint that is
  released stays held until Alembic commits, i.e. during every later statement of the revision (a
  "short" ACCESS EXCLUSIVE step would be held through a following backfill or index build).
* The enclosing transaction may already hold locks from earlier statements. Retrying inside it
  means sleeping in backoff *while holding them* — the application stays blocked, and the lock
  queue we wanted to get out of is now behind us; it also invites deadlocks.
* NOT VALID then VALIDATE only helps when a COMMIT separates them, and CONCURRENTLY cannot run in
  a transaction block at all ("cannot run inside a transaction block").

So every step commits (or rolls back) on its own. The price is that a revision is no longer atomic;
each operation is therefore written to be idempotent (it inspects the catalog and skips or resumes
work already done), and an interrupted ``alembic upgrade`` can simply be run again.
"""

from __future__ import annotations

import contextlib
import logging
import random
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from typing import Any, TypeVar, Union

from sqlalchemy import exc as sa_exc
from sqlalchemy import text

from ..errors import GuardError
from ..settings import SETTING_NAMES, Settings, load_settings

log = logging.getLogger("alembic_guard.ops")

T = TypeVar("T")
Work = Union[Sequence[str], Callable[[Any], T]]

RETRYABLE_SQLSTATES = {
    "55P03": "lock_not_available (lock_timeout)",
    "40P01": "deadlock_detected",
    "40001": "serialization_failure",
}
STATEMENT_TIMEOUT_SQLSTATE = "57014"

#: per-call keyword names accepted by every operation, mapped to Settings fields
OPTION_ALIASES = {"attempts": "retry_attempts", "pause_ms": "batch_pause_ms"}


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


def split_options(kwargs: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    """Split an operation's keyword arguments into (its own arguments, Settings overrides)."""
    own, overrides = {}, {}
    for key, value in kwargs.items():
        name = OPTION_ALIASES.get(key, key)
        if name in SETTING_NAMES:
            overrides[name] = value
        else:
            own[key] = value
    return own, overrides


def settings_for_context(ctx: Any) -> Settings:
    """Settings from the pyproject.toml nearest to alembic.ini (or the current directory)."""
    start = None
    config = getattr(ctx, "config", None)
    if config is not None and getattr(config, "config_file_name", None):
        start = config.config_file_name
    return load_settings(start)


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

    def __init__(self, runner: Runner):
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


class OfflineConnection:
    """Stand-in for the connection given to a step's callable in offline (``--sql``) mode:
    ``execute`` / ``exec_driver_sql`` write the statement to the script."""

    def __init__(self, runner: Runner):
        self._runner = runner

    def execute(self, statement: Any, parameters: Any = None) -> None:
        if parameters:
            raise GuardError("offline (--sql) mode cannot render bound parameters; inline the values.")
        if not isinstance(statement, str):
            from ._sql import fragment

            statement = fragment(statement)
        self._runner.emit(statement)

    exec_driver_sql = execute


class Runner:
    """Executes the steps of one operation call. Use as a context manager (closes the side
    connection of the lock probe).

    ``overrides`` are Settings fields given to the operation call (None values are ignored).
    Raises GuardError when the migration does not target PostgreSQL.
    """

    def __init__(self, operations: Any, overrides: dict[str, Any] | None = None):
        self.operations = operations
        self.ctx = operations.get_context()
        dialect = self.ctx.dialect
        if dialect.name != "postgresql":
            raise GuardError(f"alembic_guard operations need PostgreSQL, not {dialect.name}.")
        self.offline: bool = bool(self.ctx.as_sql)
        self.settings = settings_for_context(self.ctx).override(**(overrides or {}))
        self.backend_pid: int | None = None
        self._side: Any = None
        self._probe = _BlockerProbe(self)
        self._server_version_num: int | None = None
        self._autovacuum_denied = False

    # -- plumbing -------------------------------------------------------------------------------
    def __enter__(self) -> Runner:
        return self

    def __exit__(self, *exc: object) -> None:
        self._probe.close()
        if self._side is not None:
            with contextlib.suppress(Exception):
                self._side.close()
            self._side = None

    @property
    def conn(self) -> Any:
        return self.ctx.connection

    @property
    def server_version_num(self) -> int:
        """``server_version_num`` of the target (offline: 180000 unless the dialect knows better)."""
        if self._server_version_num is None:
            if self.offline:
                info = getattr(self.ctx.dialect, "server_version_info", None)
                self._server_version_num = (info[0] * 10000 + (info[1] if len(info) > 1 else 0)) if info else 180000
            else:
                self._server_version_num = int(self.scalar("SELECT current_setting('server_version_num')::int"))
        return self._server_version_num

    def _is_autocommit(self) -> bool:
        conn = self.conn
        level = conn.get_execution_options().get("isolation_level")
        if level is None:
            level = getattr(conn.dialect, "_on_connect_isolation_level", None)
        return level == "AUTOCOMMIT"

    @contextlib.contextmanager
    def outside_transaction(self) -> Iterator[None]:
        """Leave Alembic's transaction (it is committed) for the duration of the block.

        Offline this writes ``COMMIT;`` before and ``BEGIN;`` after (Alembic's autocommit_block).
        Raises GuardError when the connection is in a transaction Alembic does not control
        (env.py used ``engine.begin()``), because committing it is not ours to do.
        """
        ctx = self.ctx
        if self.offline:
            with ctx.autocommit_block():
                yield
            return
        if self._is_autocommit():  # already outside (nested op, or the user's autocommit_block)
            self._after_enter()
            yield
            return
        if ctx._in_connection_transaction() and getattr(ctx, "_transaction", None) is None:
            if not getattr(ctx, "_in_external_transaction", True):
                # transactional_ddl=False: SQLAlchemy autobegan a transaction Alembic commits itself
                self.conn.commit()
                with ctx.autocommit_block():
                    self._after_enter()
                    yield
                return
            raise GuardError(
                "alembic_guard operations must commit the migration's transaction, but env.py runs "
                "migrations inside a transaction Alembic did not begin (e.g. `with engine.begin()`).",
                hint="Use `with connectable.connect() as connection:` and `context.begin_transaction()` "
                     "in env.py (the Alembic template does).")
        with ctx.autocommit_block():
            self._after_enter()
            yield

    def _after_enter(self) -> None:
        if self.backend_pid is None:
            self.backend_pid = int(self.scalar("SELECT pg_backend_pid()"))

    # -- execution ------------------------------------------------------------------------------
    def run(self, sql: str) -> Any:
        """Execute our own SQL (or the caller's verbatim statement) without parameter parsing."""
        return self.conn.exec_driver_sql(sql, execution_options={"no_parameters": True})

    def query(self, sql: str, **params: Any) -> list[Any]:
        """Rows of a catalog query with bound parameters (online only)."""
        return list(self.conn.execute(text(sql), params))

    def scalar(self, sql: str, **params: Any) -> Any:
        rows = self.query(sql, **params)
        return rows[0][0] if rows else None

    def emit(self, sql: str) -> None:
        """Offline: write one statement (``;`` added) to the script."""
        self.ctx.impl.output_buffer.write(sql.rstrip().rstrip(";") + ";\n")

    def comment(self, line: str) -> None:
        """Offline: write ``-- line`` (each line of a multi-line text) to the script."""
        for part in line.splitlines() or [""]:
            self.ctx.impl.output_buffer.write(f"-- {part}".rstrip() + "\n")

    def blank(self) -> None:
        if self.offline:
            self.ctx.impl.output_buffer.write("\n")

    def timeouts(self, blocking: bool, lock_timeout_ms: int | None = None,
                 statement_timeout_ms: int | None = None) -> tuple[int, int]:
        s = self.settings
        lt = s.lock_timeout_ms if blocking else s.concurrent_lock_timeout_ms
        st = s.statement_timeout_ms if blocking else s.concurrent_statement_timeout_ms
        return (lt if lock_timeout_ms is None else lock_timeout_ms,
                st if statement_timeout_ms is None else statement_timeout_ms)

    def transaction(self, step: str, work: Work, *, blocking: bool = True, lock_timeout_ms: int | None = None,
                    statement_timeout_ms: int | None = None) -> Any:
        """Run ``work`` (statements, or ``callable(connection)``) in its own transaction with
        ``SET LOCAL lock_timeout`` / ``statement_timeout``; retried on 55P03/40P01/40001.

        ``blocking`` picks the timeouts for steps whose lock blocks traffic (True) or not
        (VALIDATE). Must be called inside :meth:`outside_transaction`. Returns what ``work`` returns.
        """
        lt, st = self.timeouts(blocking, lock_timeout_ms, statement_timeout_ms)
        if self.offline:
            self.comment(step)
            self.emit("BEGIN")
            self.emit(f"SET LOCAL lock_timeout = '{lt}ms'")
            self.emit(f"SET LOCAL statement_timeout = '{st}ms'")
            result = self._do(work, OfflineConnection(self))
            self.emit("COMMIT")
            self.blank()
            return result

        def attempt() -> Any:
            self.run(f"BEGIN; SET LOCAL lock_timeout = '{lt}ms'; SET LOCAL statement_timeout = '{st}ms'")
            try:
                result = self._do(work, self.conn)
                self.run("COMMIT")
            except BaseException:
                self._rollback_quietly()
                raise
            return result

        return self.retry(step, attempt, lt)

    def autocommit(self, step: str, work: Work, *, blocking: bool = False, lock_timeout_ms: int | None = None,
                   statement_timeout_ms: int | None = None, cleanup: Callable[[], None] | None = None) -> Any:
        """Run ``work`` outside any transaction block (CONCURRENTLY) with session-level timeouts,
        restored afterwards; retried like :meth:`transaction`. ``cleanup`` runs before each retry
        (e.g. drop the INVALID index a failed attempt left)."""
        lt, st = self.timeouts(blocking, lock_timeout_ms, statement_timeout_ms)
        if self.offline:
            self.comment(f"{step} -- run outside a transaction")
            self.emit(f"SET lock_timeout = '{lt}ms'")
            self.emit(f"SET statement_timeout = '{st}ms'")
            result = self._do(work, OfflineConnection(self))
            self.emit("RESET lock_timeout")
            self.emit("RESET statement_timeout")
            self.blank()
            return result

        first = True

        def attempt() -> Any:
            nonlocal first
            if not first and cleanup is not None:
                cleanup()
            first = False
            with self.session_timeouts(lt, st):
                return self._do(work, self.conn)

        return self.retry(step, attempt, lt)

    @contextlib.contextmanager
    def session_timeouts(self, lock_timeout_ms: int, statement_timeout_ms: int) -> Iterator[None]:
        """Session-level ``lock_timeout`` / ``statement_timeout`` for the block (online, outside a
        transaction block), restored to the previous values afterwards."""
        saved = self.query("SELECT current_setting('lock_timeout'), current_setting('statement_timeout')")[0]
        self.run(f"SET lock_timeout = '{lock_timeout_ms}ms'; SET statement_timeout = '{statement_timeout_ms}ms'")
        try:
            yield
        finally:
            with contextlib.suppress(Exception):
                self.query("SELECT set_config('lock_timeout', :lt, false), "
                           "set_config('statement_timeout', :st, false)", lt=saved[0], st=saved[1])

    def single_statement(self, step: str, work: Callable[[Any], T], lock_timeout_ms: int) -> T:
        """Run ``work(connection)``, which executes ONE statement, outside any transaction block
        (autocommit: the statement is its own transaction, one round trip) inside
        :meth:`session_timeouts`; retried like :meth:`transaction`."""
        return self.retry(step, lambda: work(self.conn), lock_timeout_ms)

    def _do(self, work: Work, conn: Any) -> Any:
        if callable(work):
            return work(conn)
        for statement in work:
            if self.offline:
                self.emit(statement)
            else:
                self.run(statement)
        return None

    def _rollback_quietly(self) -> None:
        with contextlib.suppress(Exception):
            self.run("ROLLBACK")

    def retry(self, step: str, attempt: Callable[[], T], lock_timeout_ms: int) -> T:
        """Call ``attempt`` until it does not fail with a retryable SQLSTATE; exponential backoff
        with full jitter between attempts, bounded by ``retry_attempts`` and ``retry_max_total_ms``.
        Raises LockRetryExhausted, or the first non-retryable error unchanged."""
        s = self.settings
        started = time.monotonic()
        waits: list[str] = []
        number = 0
        while True:
            number += 1
            attempt_started = time.monotonic()
            with self._probe.watch(step, lock_timeout_ms) as probe:
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


def _context_line(error: BaseException) -> str | None:
    """The CONTEXT of a lock-timeout error names the row for row locks ("while updating tuple")."""
    orig = getattr(error, "orig", None)
    diag = getattr(orig, "diag", None)
    context = getattr(diag, "context", None)
    return context.strip().splitlines()[0] if context else None
