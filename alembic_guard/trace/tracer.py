"""Observe every statement a revision runs on the shadow (trace stage).

Hooks SQLAlchemy's ``before_cursor_execute`` / ``after_cursor_execute`` / ``handle_error`` events on
every Engine for the duration of a run. Per statement it records the duration, the relation locks
the migration backend holds afterwards (side connection, ``pg_locks``), relations rewritten
(``pg_class.relfilenode`` changed) and tables sequentially scanned
(``pg_stat_xact_user_tables.seq_scan`` grew), both read on the migration connection itself.

Locks are held until the transaction ends ("Explicit Locking": "Once acquired, a lock is normally
held until the end of the transaction"), so each lock's ``held_ms`` accumulates over the later
statements of the same revision.
"""

from __future__ import annotations

import time
from typing import Any

from sqlalchemy import event
from sqlalchemy.engine import Engine

from ..capture.origin import RevisionFiles
from ..model import Lock, Observation, Relation, RevisionTrace, Statement
from . import catalog, keys
from .locks import LockReader


def _sqlstate(exc: BaseException | None) -> str | None:
    for attr in ("sqlstate", "pgcode"):
        value = getattr(exc, attr, None)
        if isinstance(value, str):
            return value
    inner = getattr(exc, "__cause__", None) or getattr(exc, "orig", None)
    if inner is not None and inner is not exc:
        return _sqlstate(inner)
    return None


def _message(exc: BaseException) -> str:
    text = str(getattr(exc, "orig", None) or exc).strip()
    return text.split("\n[SQL:")[0].strip()


def _settings_changed(statements: list[Statement]) -> set[str]:
    """Names of settings that these statements SET, RESET or set_config() (parsed with pglast)."""
    from pglast import ast
    from pglast.visitors import Visitor

    from ..sql.parse import parse_all

    names: set[str] = set()

    class _SetConfigCalls(Visitor):
        def visit_FuncCall(self, ancestors, node):
            fname = node.funcname[-1].sval if node.funcname else ""
            args = node.args or ()
            if fname == "set_config" and args and isinstance(args[0], ast.A_Const) and \
                    isinstance(args[0].val, ast.String):
                names.add(args[0].val.sval)

    for st in statements:
        for node in parse_all(st.sql) or ():
            if isinstance(node, ast.VariableSetStmt) and node.name:
                names.add(node.name)
            elif isinstance(node, ast.SelectStmt):
                _SetConfigCalls()(node)
    return names


class _Pending:
    __slots__ = ("statement", "before", "t0", "dbapi", "rev")

    def __init__(self, statement: Statement, before: dict[int, Relation], dbapi: Any, rev: RevisionTrace):
        self.statement, self.before, self.dbapi, self.rev = statement, before, dbapi, rev
        self.t0 = time.perf_counter()


class Tracer:
    """Collects Statements into ``revisions`` (RevisionTrace by id) while installed."""

    def __init__(self, side_conninfo: str, files: RevisionFiles, revisions: dict[str, RevisionTrace]):
        self.files = files
        self.revisions = revisions
        self.enabled = True
        self.last_error: tuple[str, str | None] | None = None  # (revision, sqlstate)
        self._reader = LockReader(side_conninfo)
        self._pids: dict[int, int] = {}
        self._pending: _Pending | None = None
        self._current: str | None = None
        self._held: dict[tuple[int, str], Lock] = {}
        self._names: dict[int, Relation] = {}
        self._busy = False
        self._bookkeeping: set[str] = set()  # Alembic's version table and its primary key
        self.frozen: set[str] = set()  # revisions whose trace is complete (re-applied after a failure)
        self._baseline: tuple[int, int] | None = None  # timeouts env.py gives the connection
        self._own_settings: dict[str, tuple[int, set[str]]] = {}

    def reset(self) -> None:
        """Forget per-connection state before a new ``alembic upgrade`` attempt."""
        self.last_error = None
        self._pending = None
        self._current = None
        self._held = {}
        self._pids = {}

    # -- installation -------------------------------------------------------------------------
    def install(self) -> None:
        event.listen(Engine, "before_cursor_execute", self._before)
        event.listen(Engine, "after_cursor_execute", self._after)
        event.listen(Engine, "handle_error", self._error)

    def remove(self) -> None:
        for name, fn in (("before_cursor_execute", self._before), ("after_cursor_execute", self._after),
                         ("handle_error", self._error)):
            if event.contains(Engine, name, fn):
                event.remove(Engine, name, fn)
        self._reader.close()

    # -- events ------------------------------------------------------------------------------
    def _before(self, conn, cursor, statement, parameters, context, executemany) -> None:
        if not self.enabled or self._busy:
            return
        origin = self.files.from_stack()
        if origin is None:  # env.py or Alembic's own bookkeeping (version table)
            self._pending = None
            return
        rev_id, path, line = origin
        rev = self.revisions.get(rev_id)
        if rev is None or rev_id in self.frozen:  # before --from, or already traced
            self._pending = None
            return
        dbapi = conn.connection.dbapi_connection
        self._busy = True
        try:
            before = catalog.snapshot(dbapi)
            lock_timeout, statement_timeout = catalog.timeouts(dbapi)
            # read after the snapshot: it made the driver BEGIN if the statement is going to
            block = catalog.in_transaction_block(dbapi)
            if self._current != rev_id:
                self._note_version_table()
                self._start_revision(rev, before)
                rev.unique_keys, rev.published = keys.unique_keys(dbapi), keys.published_tables(dbapi)
                self._forget_released(dbapi)
        finally:
            self._busy = False
        rev.traced = True
        stmt = Statement(sql=statement.strip(), revision=rev_id, index=len(rev.statements), path=path, line=line,
                         in_transaction=block if block is not None else not bool(getattr(dbapi, "autocommit", False)))
        stmt.observation.lock_timeout_ms, stmt.observation.statement_timeout_ms = self._effective_timeouts(
            rev, (lock_timeout, statement_timeout))
        rev.statements.append(stmt)
        self._names.update(before)
        self._pending = _Pending(stmt, before, dbapi, rev)

    def _after(self, conn, cursor, statement, parameters, context, executemany) -> None:
        pending, self._pending = self._pending, None
        if pending is None or self._busy:
            return
        duration = (time.perf_counter() - pending.t0) * 1000
        self._busy = True
        try:
            obs = pending.statement.observation
            obs.duration_ms = duration
            obs.rowcount = getattr(cursor, "rowcount", -1) if cursor is not None else -1
            after = catalog.snapshot(pending.dbapi)
            self._names.update(after)
            self._diff(obs, pending.before, after)
            self._observe_locks(pending, self._pid(pending.dbapi), duration)
        finally:
            self._busy = False

    def _error(self, ctx) -> None:
        pending, self._pending = self._pending, None
        if pending is None:
            return
        obs = pending.statement.observation
        obs.duration_ms = (time.perf_counter() - pending.t0) * 1000
        exc = ctx.original_exception
        obs.error = _message(exc)
        obs.sqlstate = _sqlstate(exc)
        self.last_error = (pending.rev.revision, obs.sqlstate)
        pid = self._pids.get(id(pending.dbapi))
        if pid is not None:  # the aborted transaction still holds its locks until ROLLBACK
            self._observe_locks(pending, pid, obs.duration_ms)

    # -- helpers -----------------------------------------------------------------------------
    def _start_revision(self, rev: RevisionTrace, before: dict[int, Relation]) -> None:
        self._current = rev.revision
        rev.preexisting = {r.qualified for r in before.values()}
        # Locks still held from an earlier revision of the same transaction stay attributed to it.

    def _forget_released(self, dbapi: Any) -> None:
        """A COMMIT between revisions (transaction_per_migration) released the earlier locks: a lock
        the next revision takes again is new in it, not one carried over from the earlier revision."""
        held_now = self._reader.relation_locks(self._pid(dbapi))
        self._held = {key: lock for key, lock in self._held.items() if key in held_now}

    def _effective_timeouts(self, rev: RevisionTrace, observed: tuple[int, int]) -> tuple[int, int]:
        """The timeouts this revision runs with when deployed on its own.

        A session-level ``SET lock_timeout`` in an earlier revision stays in force on the connection for
        the later revisions of the same ``alembic upgrade`` run, but not when a later revision is
        deployed alone. So a value counts only if env.py set it (seen before the first revision) or
        this revision set it itself (an earlier ``SET``/``RESET``/``set_config`` of the setting).
        """
        if self._baseline is None:
            self._baseline = observed
        seen, own = self._own_settings.get(rev.revision, (0, set()))
        own = own | _settings_changed(rev.statements[seen:])  # the statements before this one
        self._own_settings[rev.revision] = (len(rev.statements), own)
        return tuple(observed[i] if name in own else self._baseline[i]  # type: ignore[return-value]
                     for i, name in enumerate(("lock_timeout", "statement_timeout")))

    def _note_version_table(self) -> None:
        """Alembic's own version table is not the user's: never report locks on it."""
        try:
            from alembic import context as alembic_context

            mc = alembic_context.get_context()
        except Exception:  # not inside env.py's run (should not happen)
            return
        name = mc.version_table
        schema = mc.version_table_schema
        for rel in (name, f"{name}_pkc"):
            self._bookkeeping.add(f"{schema}.{rel}" if schema and schema != "public" else rel)

    def _pid(self, dbapi: Any) -> int:
        key = id(dbapi)
        if key not in self._pids:
            self._pids[key] = catalog.backend_pid(dbapi)
        return self._pids[key]

    @staticmethod
    def _diff(obs: Observation, before: dict[int, Relation], after: dict[int, Relation]) -> None:
        for oid, rel in after.items():
            old = before.get(oid)
            if old is None:
                obs.created.append(rel.qualified)
                continue
            if old.relfilenode and rel.relfilenode and old.relfilenode != rel.relfilenode:
                obs.rewritten.append(rel.qualified)
            if rel.kind in ("r", "m") and rel.seq_scan > old.seq_scan:
                obs.seq_scans.append(rel.qualified)

    def _observe_locks(self, pending: _Pending, pid: int, duration_ms: float) -> None:
        obs = pending.statement.observation
        held_now = self._reader.relation_locks(pid)
        preexisting = pending.rev.preexisting
        current: dict[tuple[int, str], Lock] = {}
        for oid, mode in sorted(held_now):
            rel = self._names.get(oid)
            if rel is None or rel.qualified in self._bookkeeping:  # a system catalog, or Alembic's table
                continue
            key = (oid, mode)
            lock = self._held.get(key)
            if lock is None:
                lock = Lock(relation=rel.qualified, kind=rel.kind, mode=mode, preexisting=rel.qualified in preexisting,
                            statement_index=pending.statement.index, revision=pending.rev.revision)
                obs.new_locks.append(lock)
            lock.held_ms += duration_ms
            lock.held_statements += 1
            current[key] = lock
            obs.locks.append(lock)
        self._held = current
