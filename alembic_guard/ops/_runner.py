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
from collections.abc import Callable, Iterator
from typing import Any

from sqlalchemy import text

from ..alembic_api import alembic_transaction_open, connection_in_transaction, in_external_transaction, offline_output
from ..errors import GuardError
from ._blockers import BlockerLookups, _BlockerProbe
from ._offline import render_autocommit, render_transaction
from ._options import settings_for_context
from ._retry import retry_step
from ._work import T, Work


class Runner(BlockerLookups):
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
        if connection_in_transaction(ctx) and not alembic_transaction_open(ctx):
            if not in_external_transaction(ctx):
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
        """Rows of a catalog query with bound parameters (online only). A ``"char"`` column (relkind,
        contype) comes as str whatever the driver: asyncpg returns it as bytes (b'r'), which every
        comparison with 'r' would miss. The catalog queries here read no bytea."""
        return [tuple(v.decode() if isinstance(v, bytes) else v for v in row)
                for row in self.conn.execute(text(sql), params)]

    def scalar(self, sql: str, **params: Any) -> Any:
        rows = self.query(sql, **params)
        return rows[0][0] if rows else None

    def emit(self, sql: str) -> None:
        """Offline: write one statement (``;`` added) to the script."""
        offline_output(self.ctx).write(sql.rstrip().rstrip(";") + ";\n")

    def comment(self, line: str) -> None:
        """Offline: write ``-- line`` (each line of a multi-line text) to the script."""
        for part in line.splitlines() or [""]:
            offline_output(self.ctx).write(f"-- {part}".rstrip() + "\n")

    def blank(self) -> None:
        if self.offline:
            offline_output(self.ctx).write("\n")

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
            return render_transaction(self, step, work, lt, st)

        def attempt() -> Any:
            # one statement per call: asyncpg prepares each, and a prepared statement holds one command
            for sql in ("BEGIN", f"SET LOCAL lock_timeout = '{lt}ms'", f"SET LOCAL statement_timeout = '{st}ms'"):
                self.run(sql)
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
            return render_autocommit(self, step, work, lt, st)

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
        self.run(f"SET lock_timeout = '{lock_timeout_ms}ms'")  # (one command per call: asyncpg)
        self.run(f"SET statement_timeout = '{statement_timeout_ms}ms'")
        try:
            yield
        finally:
            with contextlib.suppress(Exception):
                self.query("SELECT set_config('lock_timeout', :lt, false), "
                           "set_config('statement_timeout', :st, false)", lt=saved[0], st=saved[1])

    @contextlib.contextmanager
    def session_settings(self, **values: int | str | None) -> Iterator[None]:
        """Session-level settings (``SET name = value``) for the block, each restored afterwards to
        the value it had (``set_config(name, previous, false)``). None values are left alone.
        Online, outside a transaction block: ``SET LOCAL`` would end with the statement's implicit
        transaction. Names are PostgreSQL parameters (our own constants, not user input)."""
        names = [n for n, v in values.items() if v is not None]
        if not names:
            yield
            return
        saved = {n: self.scalar("SELECT current_setting(:n)", n=n) for n in names}
        for n in names:
            self.query("SELECT set_config(:n, :v, false)", n=n, v=str(values[n]))
        try:
            yield
        finally:
            for n in names:
                with contextlib.suppress(Exception):
                    self.query("SELECT set_config(:n, :v, false)", n=n, v=saved[n])

    def single_statement(self, step: str, work: Callable[[Any], T], lock_timeout_ms: int) -> T:
        """Run ``work(connection)``, which executes ONE statement, outside any transaction block
        (autocommit: the statement is its own transaction, one round trip) inside
        :meth:`session_timeouts`; retried like :meth:`transaction`."""
        return self.retry(step, lambda: work(self.conn), lock_timeout_ms)

    def _do(self, work: Work, conn: Any) -> Any:
        if callable(work):
            return work(conn)
        for statement in work:  # online: offline runs render through _offline
            self.run(statement)
        return None

    def _rollback_quietly(self) -> None:
        with contextlib.suppress(Exception):
            self.run("ROLLBACK")

    def retry(self, step: str, attempt: Callable[[], T], lock_timeout_ms: int) -> T:
        """Call ``attempt`` until it does not fail with a retryable SQLSTATE; exponential backoff
        with full jitter between attempts, bounded by ``retry_attempts`` and ``retry_max_total_ms``.
        Raises LockRetryExhausted, or the first non-retryable error unchanged."""
        return retry_step(self.settings, self._probe, step, attempt, lock_timeout_ms)
