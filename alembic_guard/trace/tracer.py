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

import bisect
import contextlib
import time
from operator import attrgetter
from typing import Any

from sqlalchemy import event
from sqlalchemy.engine import Engine

from pglast import ast
from pglast.enums.parsenodes import TransactionStmtKind

from ..capture.origin import RevisionFiles
from ..alembic_api import current_context
from ..locks import covered_by
from ..model import Lock, Relation, RevisionTrace, Statement
from ..sql.parse import parse_all
from ..sql.secrets import mask_passwords, scrub_error
from . import catalog, unseen
from .autocommit import LockSampler, ScanCounter, documented_lock, may_run_in_block, wrappable
from . import locks as lock_sets
from .locks import LockReader
from .modes import PER_MIGRATION, detect_mode
from .facts_cache import RevisionFacts
from .snapshots import Snapshots
from .statements import (SPLITTABLE_DRIVERS, called_functions, coverage_of, render_parameters, settings_changed,
                         split_statements, string_constants)


_BY_OID_MODE = attrgetter("oid", "mode")


class BookkeepingNames(set):
    """Qualified names of Alembic's version table and its primary key. With no
    ``version_table_schema`` Alembic creates and finds the table through the session's search_path:
    in a multi-tenant env.py (``SET search_path TO tenant1``, the Alembic cookbook) each schema has its
    own, so a table of that bare name (``any_schema``) in any schema is Alembic's."""

    def __init__(self) -> None:
        super().__init__()
        self.any_schema: set[str] = set()

    def __contains__(self, qualified: object) -> bool:
        return set.__contains__(self, qualified) or (
            isinstance(qualified, str) and qualified.rpartition(".")[2] in self.any_schema)


_ROLLBACKS = (TransactionStmtKind.TRANS_STMT_ROLLBACK, TransactionStmtKind.TRANS_STMT_ROLLBACK_TO,
              TransactionStmtKind.TRANS_STMT_ROLLBACK_PREPARED)


def _may_roll_back(nodes: tuple | None) -> bool:
    """A ROLLBACK (TO SAVEPOINT), or a statement that can roll back a subtransaction of its own: a DO
    block or a procedure (PL/pgSQL's EXCEPTION blocks), or one that does not parse."""
    if nodes is None:
        return True
    return any(isinstance(n, (ast.DoStmt, ast.CallStmt)) or isinstance(n, ast.TransactionStmt) and n.kind in _ROLLBACKS
               for n in nodes)


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


class _Pending:
    """A statement between ``before`` and ``after``: what its observation still needs."""

    __slots__ = ("statement", "before", "t0", "dbapi", "rev", "wrapped", "commit_after", "sampled",
                 "scans_before", "nodes")

    def __init__(self, statement: Statement, before: dict[int, Relation], dbapi: Any, rev: RevisionTrace):
        self.statement, self.before, self.dbapi, self.rev = statement, before, dbapi, rev
        self.wrapped = False  # the tracer sent BEGIN before it (it ran outside a transaction block)
        self.commit_after = False  # ... and ends that transaction after it
        self.sampled = False  # outside a transaction and not wrappable: locks sampled while it runs
        self.scans_before: dict[int, int] = {}
        self.nodes: tuple | None = None
        self.t0 = time.perf_counter()


class Tracer:
    """Collects Statements into ``revisions`` (RevisionTrace by id) while installed."""

    def __init__(self, side_conninfo: str, files: RevisionFiles, revisions: dict[str, RevisionTrace],
                 server_version_num: int = 0):
        self.files = files
        self.revisions = revisions
        self.enabled = True
        self.last_error: tuple[str, str | None] | None = None  # (revision, sqlstate)
        self.mode = ""  # transaction mode env.py runs the revisions in (trace/modes.py)
        self._mode_known = False  # False while only guessed (inside an autocommit_block)
        self._side = side_conninfo
        self._version = server_version_num
        self._reader = LockReader(side_conninfo)
        self._catalog = Snapshots(server_version_num)  # reads only what changed since the last one
        self._facts = RevisionFacts()  # each revision's starting facts: re-reads only the changed tables
        self._sampler: LockSampler | None = None  # opened at the first statement that needs it
        self._scans: ScanCounter | None = None
        self._pids: dict[int, int] = {}
        self._pending: _Pending | None = None
        self._current: str | None = None
        self._held: dict[tuple[int, str, str], Lock] = {}  # (oid, mode, revision that took it)
        self._clock: tuple[float, int] = (0.0, 0)  # ms and statements observed so far (see _settle)
        self._base_mark = self._clock
        self._install_held({})
        self._names: dict[int, Relation] = {}
        self._pre_names: frozenset[str] = frozenset()
        self._last_after: dict[int, Relation] | None = None  # catalog after the last traced statement
        self._busy = False
        self.on_revision: Any = None  # callable(RevisionTrace) when a revision's first statement starts
        self._bookkeeping = BookkeepingNames()  # Alembic's version table and its primary key
        self.frozen: set[str] = set()  # revisions whose trace is complete (re-applied after a failure)
        self._baseline: tuple[int, int] | None = None  # timeouts env.py gives the connection
        self._own_settings: dict[str, tuple[int, set[str]]] = {}
        self._autocommit_xacts = 0
        self._group: tuple[bool, str] = (False, "")  # (BEGIN sent for it, its xact) of a split string
        self._xact = ""  # the server transaction of the last traced statement (catalog.session_state)
        self._by_ops = False  # the statement in progress comes from alembic_guard.ops (origin.via_ops)
        # perf_counter() when the tracer last handed control back to the revision's code: the time
        # until its next statement (or its version-table write) is the revision's own Python time,
        # spent holding every lock its transaction took (Observation.gap_ms, RevisionTrace.tail_ms)
        self._idle_since: float | None = None

    def reset(self) -> None:
        """Forget per-connection state before a new ``alembic upgrade`` attempt."""
        self.last_error = None
        self._pending = None
        self._current = None
        self._idle_since = None
        self._release_all()
        self._pids = {}
        self._last_after = None
        self._xact = ""
        self._catalog.reset()
        self._facts.reset()

    # -- installation -------------------------------------------------------------------------
    def install(self) -> None:
        event.listen(Engine, "before_cursor_execute", self._before, retval=True)
        event.listen(Engine, "after_cursor_execute", self._after)
        event.listen(Engine, "handle_error", self._error)

    def remove(self) -> None:
        self._settle()  # every Lock's held_ms / held_statements exact from here on
        for name, fn in (("before_cursor_execute", self._before), ("after_cursor_execute", self._after),
                         ("handle_error", self._error)):
            if event.contains(Engine, name, fn):
                event.remove(Engine, name, fn)
        self._reader.close()
        for side in (self._sampler, self._scans):
            if side is not None:
                side.close()

    # -- events ------------------------------------------------------------------------------
    def _before(self, conn, cursor, statement, parameters, context, executemany):
        if not self.enabled or self._busy:
            return statement, parameters
        origin = self.files.from_stack()
        if origin is None:  # env.py or Alembic's own bookkeeping (version table)
            self._pending = None
            self._bookkeeping_statement(conn, statement, parameters)
            return statement, parameters
        rev_id, path, line = origin
        self._by_ops = self.files.via_ops()
        rev = self.revisions.get(rev_id)
        if rev is None or rev_id in self.frozen:  # before --from, or already traced
            self._pending = None
            return statement, parameters
        dbapi = conn.connection.dbapi_connection
        rendered = render_parameters(cursor, dbapi, statement, parameters, executemany)
        parts = [statement]
        if rendered is None and not parameters and conn.dialect.driver in SPLITTABLE_DRIVERS:
            parts = split_statements(statement)
        if len(parts) > 1:
            nodes = [parse_all(p) for p in parts]
            # PostgreSQL runs a string of several statements in one implicit transaction, where what
            # cannot run in a transaction block fails: then run it whole, to fail as in production.
            if any(n is None or not may_run_in_block(n) and not isinstance(n[0], ast.TransactionStmt) for n in nodes):
                parts = [statement]
        if len(parts) == 1:
            self._pending = self._start(rev, dbapi, rendered or statement, path, line,
                                        source=statement if rendered else None)
            return statement, parameters
        group = not any(isinstance(n[0], ast.TransactionStmt) for n in nodes)
        for i, part in enumerate(parts[:-1]):
            pending = self._start(rev, dbapi, part, path, line, source=statement, part=i, group=group)
            try:
                self._busy = True
                try:
                    cursor.execute(part)
                finally:
                    self._busy = False
            except BaseException:
                self._pending = pending  # handle_error records it
                raise
            self._finish(pending, cursor)
        self._pending = self._start(rev, dbapi, parts[-1], path, line, source=statement, part=len(parts) - 1,
                                    group=group, last=True)
        return parts[-1], parameters

    def _start(self, rev: RevisionTrace, dbapi: Any, sql: str, path: str, line: int, *, source: str | None = None,
               part: int = 0, group: bool = False, last: bool = False) -> _Pending:
        """Snapshot the catalog before a statement and decide how to observe it."""
        rev_id = rev.revision
        gap_ms = self._python_ms(rev_id)
        self._busy = True
        try:
            # quiet: usually nothing ran since the snapshot after the previous statement; the
            # quiet value proves it (trace/snapshots.py), or the snapshot is read as usual
            starts_revision = self._current != rev_id
            # a revision's starting facts go in the same round trip as the snapshot (same moment:
            # nothing runs between them)
            also = [catalog.SETTINGS_SQL, *(self._facts.queries(dbapi) if starts_revision else ())]
            if starts_revision and self._held and id(dbapi) in self._pids and self.mode != PER_MIGRATION:
                # the locks _forget_released may need (revisions sharing a transaction), built by the
                # side connection's server process while this one reads the catalog. (Not asked for
                # when each revision commits: an answer nobody reads still costs its round trip.)
                with contextlib.suppress(Exception):
                    self._reader.send(self._pids[id(dbapi)])
            # (a revision's first statement usually follows a COMMIT: a new transaction, the quiet
            # check would only cost its round trip)
            before = self._catalog.snapshot(dbapi, quiet=not starts_revision, also=also)
            settings_rows, *facts_rows = self._catalog.also_results
            lock_timeout, statement_timeout, xact = catalog.session_state(dbapi, settings_rows)
            # read after the snapshot: it made the driver BEGIN if the statement is going to
            block = catalog.in_transaction_block(dbapi)
            if not self._mode_known:
                self.mode, self._mode_known = detect_mode()
            in_tx = block if block is not None else not bool(getattr(dbapi, "autocommit", False))
            if starts_revision:
                self._note_version_table()
                self._start_revision(rev, before)
                rev.unique_keys, rev.published, rev.tables = self._facts.read(dbapi, facts_rows, before)
                if self._held and in_tx and xact == self._xact:
                    # still the transaction of the earlier revision: read which locks it still holds
                    # (in a new transaction, or none, every lock is forgotten below anyway)
                    self._forget_released(dbapi)
                self._reader.discard()  # an answer not needed
            if self._last_after is not None and self._current == rev_id:
                self._note_unseen_changes(before, rev_id, dbapi)  # between two traced statements of it
            if not (group and part) and (not in_tx or xact != self._xact):
                # The transaction the held locks belonged to ended where the trace does not see it
                # (Alembic's COMMIT entering an autocommit_block(), or between revisions): none is
                # carried into this statement, so a lock it takes is asked for anew and can queue.
                # (The parts of one split string share one transaction, the tracer's BEGIN or not.)
                self._release_all()
            else:
                self._pass_time(gap_ms)  # the locks still held were held through the revision's code
            self._xact = xact if in_tx else ""
            nodes = parse_all(sql)
            if _may_roll_back(nodes):
                self._facts.invalidate()  # rows rolled back leave no trace the facts cache can see
            wrap = False
            if not in_tx and (group or wrappable(nodes)):
                catalog.execute(dbapi, "BEGIN")  # see trace/autocommit.py: same locks, now observable
                wrap = True
            sampled = not in_tx and not wrap
            scans_before = self._scan_counter().counts(dbapi) if sampled else {}
            pid = self._pid(dbapi)
        except BaseException:
            self._reader.discard()  # a lock answer sent above is stale for whatever reads next
            raise
        finally:
            self._busy = False
        rev.traced = True
        if not in_tx:
            self._autocommit_xacts += 1
            xact = f"auto-{self._autocommit_xacts}"
        if group and part == 0:
            self._group = (wrap, xact)
        elif group and self._group[0]:
            xact = self._group[1]  # the parts of one string share its implicit transaction
        # a password in the SQL never reaches a report or the cache (sql/secrets.py)
        stmt = Statement(sql=mask_passwords(sql.strip()), revision=rev_id, index=len(rev.statements), path=path,
                         line=line, in_transaction=in_tx or group, part=part, by_ops=self._by_ops,
                         source_sql=mask_passwords(source.strip())
                         if source is not None and source.strip() != sql.strip() else None)
        obs = stmt.observation
        obs.lock_timeout_ms, obs.statement_timeout_ms = self._effective_timeouts(rev, (lock_timeout, statement_timeout))
        obs.preexisting_names = self._pre_names
        obs.xact = xact
        obs.sampled = sampled
        obs.gap_ms = gap_ms
        rev.statements.append(stmt)
        self._names.update(before)
        pending = _Pending(stmt, before, dbapi, rev)
        pending.nodes = nodes
        pending.wrapped = wrap or (group and self._group[0])
        pending.commit_after = (wrap and not group) or (group and last and self._group[0])
        pending.sampled = sampled
        pending.scans_before = scans_before
        if sampled:
            self._lock_sampler().start(pid)
        pending.t0 = time.perf_counter()
        return pending

    def _after(self, conn, cursor, statement, parameters, context, executemany) -> None:
        pending, self._pending = self._pending, None
        if pending is None or self._busy:
            return
        self._finish(pending, cursor)

    def _finish(self, pending: _Pending, cursor: Any) -> None:
        duration = (time.perf_counter() - pending.t0) * 1000
        sampled_locks = self._lock_sampler().stop() if pending.sampled else None
        self._busy = True
        try:
            obs = pending.statement.observation
            obs.duration_ms = duration
            obs.rowcount = getattr(cursor, "rowcount", -1) if cursor is not None else -1
            if not pending.sampled:
                # the side connection's server process builds pg_locks while this one reads the
                # catalog (both after the statement; the catalog read locks system catalogs only)
                self._reader.send(self._pid(pending.dbapi))
            after = self._catalog.snapshot(pending.dbapi)
            self._names.update(after)
            self._diff(pending, after)
            if pending.sampled:
                now = self._scan_counter().counts(pending.dbapi)
                for oid, n in now.items():
                    if n > pending.scans_before.get(oid, n) and oid in pending.before:
                        self._note_scan(pending, oid)
            self._observe_locks(pending, self._pid(pending.dbapi), duration, sampled_locks)
            if sampled_locks is not None:
                self._check_sampling(pending, sampled_locks)
            self._classify(pending)
            if pending.commit_after:
                catalog.execute(pending.dbapi, "COMMIT")
                self._release_all()
            elif not pending.statement.in_transaction and not pending.wrapped:
                self._release_all()  # its implicit transaction ended with it
            self._last_after = after
        finally:
            self._reader.discard()  # an answer the steps above did not read (they raised) is stale
            self._busy = False
            self._idle_since = time.perf_counter()

    def _error(self, ctx) -> None:
        pending, self._pending = self._pending, None
        if pending is None:
            return
        sampled_locks = self._lock_sampler().stop() if pending.sampled else None
        obs = pending.statement.observation
        obs.duration_ms = (time.perf_counter() - pending.t0) * 1000
        exc = ctx.original_exception
        obs.error = scrub_error(_message(exc))  # no password from the server's excerpt (sql/secrets.py)
        obs.sqlstate = _sqlstate(exc)
        self.last_error = (pending.rev.revision, obs.sqlstate)
        self._classify(pending, failed=True)
        pid = self._pids.get(id(pending.dbapi))
        if pid is not None:  # the aborted transaction still holds its locks until ROLLBACK
            self._busy = True
            try:
                self._observe_locks(pending, pid, obs.duration_ms, sampled_locks)
                if pending.wrapped:  # our own transaction: end it, the driver believes in none
                    catalog.execute(pending.dbapi, "ROLLBACK")
                    self._release_all()
            except Exception:  # noqa: BLE001 - the connection itself may be gone; the error is recorded
                pass
            finally:
                self._busy = False
        self._idle_since = time.perf_counter()

    # -- helpers -----------------------------------------------------------------------------
    def _python_ms(self, rev_id: str) -> float:
        """ms since the tracer last returned to ``rev_id``'s code (0 at the revision's first statement)."""
        if self._idle_since is None or self._current != rev_id:
            return 0.0
        return (time.perf_counter() - self._idle_since) * 1000

    def _start_revision(self, rev: RevisionTrace, before: dict[int, Relation]) -> None:
        self._current = rev.revision
        if self.on_revision is not None:
            self.on_revision(rev)
        rev.preexisting_oids = set(before)
        rev.preexisting = {r.qualified for r in before.values()}
        self._pre_names = frozenset(rev.preexisting)
        # Locks still held from an earlier revision of the same transaction stay attributed to it.

    def _bookkeeping_statement(self, conn: Any, statement: str, parameters: Any) -> None:
        """Alembic's own statements mark where revisions begin and end: the first one of a run (it
        reads or creates the version table) gives the catalog before any revision, and the version
        table UPDATE/INSERT after each revision names the revision that just ran (its id is the new
        version_num). A schema change since the last traced statement that no traced statement made
        belongs to that revision, traced statements or not."""
        if not self.enabled:
            return
        tail_ms = self._python_ms(self._current) if self._current is not None else 0.0
        self._note_version_table()
        first = self._last_after is None
        finished = None
        if not first:
            nodes = parse_all(statement)
            if not (nodes and isinstance(nodes[0], (ast.UpdateStmt, ast.InsertStmt))
                    and nodes[0].relation.relname == self._version_table()):
                return
            # Alembic writes the id as a literal (``VALUES ('ae1027a6acf')``), some versions bind it
            values = list(parameters.values() if isinstance(parameters, dict) else (parameters or ()))
            values += string_constants(nodes[0])
            finished = next((v for v in values if isinstance(v, str) and v in self.revisions), None)
        dbapi = conn.connection.dbapi_connection
        check = finished is not None and finished not in self.frozen
        if check and finished == self._current:
            self._idle_since = None  # the next revision's time is its own
        else:
            tail_ms = 0.0
        self._busy = True
        try:
            if check and self._last_after is not None:
                # the side connection's server process builds pg_locks while this one reads the
                # catalog (_note_unseen_work reads the answer, or asks again if this failed)
                with contextlib.suppress(Exception):
                    self._reader.send(self._pid(dbapi))
            now = self._catalog.snapshot(dbapi, quiet=True, also=[catalog.SETTINGS_SQL] if check else None)
            xact = catalog.session_state(dbapi, self._catalog.also_results[0])[2] if check else self._xact
        except Exception:  # noqa: BLE001 - a connection in a failed transaction: nothing to compare
            self._reader.discard()
            return
        finally:
            self._busy = False
        if check and self._held and xact != self._xact:
            # The transaction of the last traced statement ended (each revision commits) and this
            # revision traced nothing: the locks it holds now are its own, none carried over, so a
            # lock it took where the trace does not look is not taken for one an earlier revision held.
            self._release_all()
        elif check and xact == self._xact:
            # its last statement to its version-table write, in the transaction that still holds its
            # locks (an autocommit block's COMMIT in between released them: no tail then)
            self.revisions[finished].tail_ms = tail_ms
            self._pass_time(tail_ms)
        if check:
            self._note_unseen_changes(now, finished, dbapi)
            self._note_unseen_work(dbapi, now, finished)
        self._reader.discard()  # an answer nobody read (no earlier snapshot to compare with)
        self._last_after = now

    def _note_unseen_work(self, dbapi: Any, now: dict[int, Relation], rev_id: str) -> None:
        """At the version-table write, still inside the revision's transaction: locks, scans or row
        writes on existing tables that no traced statement explains (trace/unseen.py)."""
        if self._last_after is None or rev_id not in self.revisions:
            return
        try:
            held = self._reader.relation_locks(self._pid(dbapi))
        except Exception:  # noqa: BLE001 - the side connection is gone: nothing to compare
            return
        known = {(oid, mode) for oid, mode, _by in self._held}
        self._add_unseen(rev_id, unseen.unexplained_work(self._last_after, now, held, known, self._bookkeeping))

    def _add_unseen(self, rev_id: str, reasons: list[str]) -> None:
        rev = self.revisions[rev_id]
        rev.unseen.extend(r for r in reasons if r not in rev.unseen)

    def _version_table(self) -> str:
        mc = current_context()
        return mc.version_table if mc is not None else "alembic_version"

    def _note_unseen_changes(self, now: dict[int, Relation], rev_id: str, dbapi: Any = None) -> None:
        """Schema changes, and scans or row writes of existing tables (this transaction's counters),
        since the last snapshot the trace explained: ``rev_id`` cannot be safe."""
        if self._last_after is None or rev_id not in self.revisions:
            return
        changed = self._catalog.changed(dbapi, self._last_after, now) if dbapi is not None else None
        self._add_unseen(rev_id, unseen.schema_changes(self._last_after, now, self._bookkeeping, changed))
        if changed is None or changed:  # (a reused snapshot changed nothing; counters that fell: a new transaction)
            self._add_unseen(rev_id, unseen.unexplained_work(self._last_after, now, set(), set(), self._bookkeeping))

    def _check_sampling(self, pending: _Pending, seen: set[tuple[int, str]]) -> None:
        """Locks a sampled statement held too briefly to be read (trace/unseen.py), unless its kind
        fixes its lock mode by the PostgreSQL docs (CONCURRENTLY: SHARE UPDATE EXCLUSIVE)."""
        if documented_lock(pending.nodes):
            return
        st = pending.statement
        self._add_unseen(st.revision, unseen.sampling_misses(st.observation, seen, self._names, st.line))

    def _lock_sampler(self) -> LockSampler:
        if self._sampler is None:
            self._sampler = LockSampler(self._side)
        return self._sampler

    def _scan_counter(self) -> ScanCounter:
        if self._scans is None:
            self._scans = ScanCounter(self._side, self._version)
        return self._scans

    def _classify(self, pending: _Pending, failed: bool = False) -> None:
        """Coverage of the statement: parsed, or judged by its trace only (and why)."""
        nodes = pending.nodes
        names = called_functions(nodes)
        user: set[str] = set()
        st = pending.statement
        if names and not failed:
            try:
                rows = catalog.fetch_params(pending.dbapi, catalog.USER_FUNCTIONS_SQL, (sorted(names),))
            except Exception:  # noqa: BLE001 - a driver that cannot bind a list: name the calls anyway
                rows = []
            user = {r[0] for r in rows}
            # their bodies as they are now, for the rules to read (sql/plpgsql.py, judge.py)
            st.function_bodies = [(str(r[1]), str(r[2])) for r in rows if r[2]]
        st.coverage, st.coverage_reason = coverage_of(nodes, user)

    def _forget_released(self, dbapi: Any) -> None:
        """A COMMIT between revisions (transaction_per_migration) released the earlier locks: a lock
        the next revision takes again is new in it, not one carried over from the earlier revision."""
        held_now = self._reader.relation_locks(self._pid(dbapi))
        self._settle()
        self._install_held({key: lock for key, lock in self._held.items() if key[:2] in held_now})

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
        own = own | settings_changed(rev.statements[seen:])  # the statements before this one
        self._own_settings[rev.revision] = (len(rev.statements), own)
        return tuple(observed[i] if name in own else self._baseline[i]  # type: ignore[return-value]
                     for i, name in enumerate(("lock_timeout", "statement_timeout")))

    def _note_version_table(self) -> None:
        """Alembic's own version table is not the user's: never report locks on it."""
        mc = current_context()
        if mc is None:  # not inside env.py's run (should not happen)
            return
        name = mc.version_table
        schema = mc.version_table_schema
        for rel in (name, f"{name}_pkc"):
            self._bookkeeping.add(f"{schema}.{rel}" if schema and schema != "public" else rel)
        if not schema:  # where the search_path puts it (a tenant's schema, SET search_path in env.py)
            self._bookkeeping.any_schema.update((name, f"{name}_pkc"))

    def _pid(self, dbapi: Any) -> int:
        key = id(dbapi)
        if key not in self._pids:
            self._pids[key] = catalog.backend_pid(dbapi)
        return self._pids[key]

    def _diff(self, pending: _Pending, after: dict[int, Relation]) -> None:
        obs, before, rev = pending.statement.observation, pending.before, pending.rev
        pre = rev.preexisting_oids
        renamed = False
        # Only the relations that differ can show anything: when the snapshots say which those are
        # (an incremental read, trace/snapshots.py), look at them only, else at every relation.
        changed = self._catalog.changed(pending.dbapi, before, after)
        gone = [oid for oid in before if oid not in after] if changed is None else \
            sorted(before.keys() - after.keys())
        # ALTER COLUMN TYPE without a rewrite re-creates an index's catalog entry (a new OID) but keeps
        # its file: no build ("ALTER TABLE", Notes: indexes are rebuilt unless the change is binary
        # coercible; TryReuseIndex in tablecmds.c keeps the relfilenode)
        reused = {before[o].relfilenode for o in gone if before[o].is_index}
        candidates = after.items() if changed is None else [(oid, after[oid]) for oid in changed if oid in after]
        for oid, rel in candidates:
            old = before.get(oid)
            if old is None:
                obs.created.append(rel.qualified)
                # a partitioned index (relkind I) has no storage: ON ONLY parent builds nothing, and
                # the partitions' own indexes count for the partitions
                if rel.kind == "i" and rel.table_oid in pre and rel.table_oid not in obs.built_oids \
                        and rel.relfilenode not in reused:
                    obs.built_oids.append(rel.table_oid)
                    obs.names[rel.table_oid] = self._names[rel.table_oid].qualified
                continue
            if old.qualified != rel.qualified:
                renamed = True
            if old.relfilenode and rel.relfilenode and old.relfilenode != rel.relfilenode:
                obs.rewritten.append(rel.qualified)
                table = rel.table_oid if rel.is_index else oid
                if table is not None and table not in obs.rewritten_oids:
                    obs.rewritten_oids.append(table)
                    if table in self._names:
                        obs.names[table] = self._names[table].qualified
            # pg_stat_xact_* counts this transaction only: meaningless for a sampled statement
            if not pending.sampled and rel.kind in ("r", "m") and rel.seq_scan > old.seq_scan:
                self._note_scan(pending, oid)
            if not pending.sampled and rel.n_mod > old.n_mod and oid in pre and oid not in obs.modified_oids:
                obs.modified_oids.append(oid)
                obs.names[oid] = rel.qualified
        for oid in gone:
            obs.dropped.append(before[oid].qualified)
            obs.dropped_oids.append(oid)
        if renamed or obs.dropped or any(r.qualified in self._pre_names for _oid, r in candidates
                                          if r.oid not in pre and r.oid not in before):
            self._pre_names = frozenset(r.qualified for o, r in after.items() if o in pre)
            rev.preexisting |= self._pre_names

    def _note_scan(self, pending: _Pending, oid: int) -> None:
        obs = pending.statement.observation
        rel = self._names.get(oid) or pending.before.get(oid)
        if rel is None or rel.kind not in ("r", "m", "p"):
            return
        if rel.qualified not in obs.seq_scans:
            obs.seq_scans.append(rel.qualified)
        if oid in pending.rev.preexisting_oids and oid not in obs.scanned_oids:
            obs.scanned_oids.append(oid)
            obs.names[oid] = rel.qualified

    # -- held locks: their spans accumulate lazily ----------------------------------------------
    # Every held lock gains each statement observed while it is held (held_ms, held_statements).
    # Adding to each of them per statement made every statement O(held locks); instead the tracer
    # keeps a clock (the sum of the durations and the number of the statements observed) and the
    # clock reading at which each held lock was last brought up to date. ``_settle`` brings them all
    # up to date: before the held set is replaced (a transaction ended, the slow path) and when the
    # run ends (``remove``), so every Lock is exact by the time anything reads it.

    def _pass_time(self, ms: float) -> None:
        """``ms`` of the revision's own time passed between statements: every lock held gains it."""
        if ms:
            self._clock = (self._clock[0] + ms, self._clock[1])

    def _settle(self) -> None:
        """Add to every held lock the statements observed since its clock mark."""
        ms, n = self._clock
        for key, lock in self._held.items():
            m_ms, m_n = self._marks.get(key, self._base_mark)
            lock.held_ms += ms - m_ms
            lock.held_statements += n - m_n
        self._marks = {}
        self._base_mark = self._clock

    def _install_held(self, held: dict[tuple[int, str, str], Lock]) -> None:
        """Make ``held`` the held locks, each up to date at the current clock (call ``_settle`` on the
        previous ones first)."""
        self._held = held
        self._marks = {}
        self._base_mark = self._clock
        # the held (oid, mode) pairs as codes (trace/locks.py): ints compare fast with the reader's answer
        self._held_codes = {lock_sets.code(oid, mode) for oid, mode, _by in held if mode in lock_sets.MODE_INDEX}
        self._held_odd = len(self._held_codes) < len({key[:2] for key in held})  # a mode not among the eight
        self._held_by_oid = {}
        for key in held:
            self._held_by_oid.setdefault(key[0], []).append(key)
        self._held_sorted = sorted(held.values(), key=_BY_OID_MODE)
        self._ignored_codes: set[int] = set()  # pairs on system catalogs / Alembic's table, as codes

    def _release_all(self) -> None:
        """The transaction the held locks belonged to ended."""
        self._settle()
        self._install_held({})

    def _observe_locks(self, pending: _Pending, pid: int, duration_ms: float,
                       sampled: set[tuple[int, str]] | None = None) -> None:
        """Record the relation locks the backend holds now (or, for a sampled statement, held at some
        point while it ran). A lock is new when this transaction did not hold it before; it could
        queue behind other sessions unless a mode the transaction already held covers it."""
        obs = pending.statement.observation
        if sampled is not None:
            odd = any(mode not in lock_sets.MODE_INDEX for _oid, mode in sampled)
            now, named = (set(), sampled) if odd else (lock_sets.codes_of(sampled), None)
        else:
            now, named = self._reader.held(pid)
        rev = pending.rev
        pre = rev.preexisting_oids
        if named is None and not self._held_odd and self._held_codes <= now:
            # The usual case (locks are kept to the end of the transaction): every lock held before is
            # still held, so only the pairs new in pg_locks need looking at; the others gain this
            # statement (lazily, see _settle). Keeps the per-statement Python work O(new locks).
            self._clock = (self._clock[0] + duration_ms, self._clock[1] + 1)
            new_pairs = lock_sets.decode(now.difference(self._held_codes, self._ignored_codes))
            self._observe_new_locks(pending, new_pairs, duration_ms, sampled is not None)
            return
        held_now = named if named is not None else lock_sets.decode(now)
        self._settle()
        self._clock = (self._clock[0] + duration_ms, self._clock[1] + 1)
        # Only this revision's own earlier modes cover a request: deployed alone (one release at a
        # time) it would not hold the locks an earlier revision of the same upgrade took.
        held_modes: dict[int, set[str]] = {}
        by_pair: dict[tuple[int, str], list[Lock]] = {}  # one pass: no scan of every held lock per held lock
        for (oid, mode, by), lk in self._held.items():
            by_pair.setdefault((oid, mode), []).append(lk)
            if by == rev.revision:
                held_modes.setdefault(oid, set()).add(mode)
        current: dict[tuple[int, str, str], Lock] = {}
        for oid, mode in sorted(held_now):
            rel = self._names.get(oid)
            if rel is None or rel.qualified in self._bookkeeping:  # a system catalog, or Alembic's table
                continue
            carried = by_pair.get((oid, mode), [])
            if not carried:
                # pg_locks cannot tell a lock this statement asked for again from one carried over:
                # a mode an earlier revision of the same transaction took stays that revision's
                lock = Lock(relation=rel.qualified, kind=rel.kind, mode=mode, preexisting=oid in pre, oid=oid,
                            table_oid=rel.table_oid, queued=not covered_by(mode, held_modes.get(oid, set())),
                            sampled=sampled is not None, statement_index=pending.statement.index,
                            revision=rev.revision)
                obs.new_locks.append(lock)
                carried.append(lock)
            for lock in carried:
                lock.held_ms += duration_ms
                lock.held_statements += 1
                current[(oid, mode, lock.revision)] = lock
                obs.locks.append(lock)
        self._install_held(current)  # each one counted this statement above: up to date at the clock

    def _observe_new_locks(self, pending: _Pending, new_pairs: set[tuple[int, str]], duration_ms: float,
                           sampled: bool) -> None:
        """``_observe_locks`` when every lock of ``self._held`` is still held: the same Locks, in the
        same order (by OID, then mode), without re-examining the carried ones. (A carried lock was
        checked against Alembic's bookkeeping tables when it was first seen.) ``new_pairs`` leaves
        out the pairs already found to be on system catalogs (or Alembic's table) in this transaction."""
        obs = pending.statement.observation
        rev = pending.rev
        if new_pairs:
            held_modes: dict[int, set[str]] = {}
            for oid in {oid for oid, _mode in new_pairs}:
                for (_oid, mode, by) in self._held_by_oid.get(oid, ()):
                    if by == rev.revision:
                        held_modes.setdefault(oid, set()).add(mode)
            for oid, mode in sorted(new_pairs):
                rel = self._names.get(oid)
                if rel is None or rel.qualified in self._bookkeeping:  # a system catalog, or Alembic's table
                    if mode in lock_sets.MODE_INDEX:  # names only grow: it stays one while held
                        self._ignored_codes.add(lock_sets.code(oid, mode))
                    continue
                lock = Lock(relation=rel.qualified, kind=rel.kind, mode=mode, preexisting=oid in rev.preexisting_oids,
                            oid=oid, table_oid=rel.table_oid, queued=not covered_by(mode, held_modes.get(oid, set())),
                            sampled=sampled, statement_index=pending.statement.index, revision=rev.revision,
                            held_ms=duration_ms, held_statements=1)
                obs.new_locks.append(lock)
                key = (oid, mode, rev.revision)
                self._held[key] = lock
                self._marks[key] = self._clock  # up to date, this statement included
                if mode in lock_sets.MODE_INDEX:
                    self._held_codes.add(lock_sets.code(oid, mode))
                else:  # a mode not among the eight (never seen): the slow path compares pairs from now on
                    self._held_odd = True
                self._held_by_oid.setdefault(oid, []).append(key)
                bisect.insort(self._held_sorted, lock, key=_BY_OID_MODE)
        obs.locks.extend(self._held_sorted)
