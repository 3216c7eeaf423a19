"""Observe statements that run outside a transaction block (``autocommit_block()``, autocommit
connections).

Outside a transaction a statement's locks are released when it returns and the
``pg_stat_xact_*`` counters die with its implicit transaction, so the in-transaction method (read
``pg_locks`` and ``pg_stat_xact_user_tables`` after the statement) sees nothing. Two ways out:

- **Wrap it.** A statement that may run inside a transaction block behaves the same in an explicit
  one-statement transaction as in its implicit one ("Transactions", PostgreSQL docs, tutorial-transactions:
  a statement outside BEGIN runs in its own transaction). The tracer sends BEGIN before it and COMMIT
  (ROLLBACK on error) after reading its locks and scans, exactly as for a statement of the migration
  transaction. ``wrappable`` says which statements qualify.
- **Sample it.** The others (``CREATE INDEX CONCURRENTLY``, ``VACUUM``, ``CALL`` of a procedure that
  commits…) cannot run in a transaction block. ``LockSampler`` reads ``pg_locks`` for the backend
  from a side connection every ~2 ms while the statement runs, and ``ScanCounter`` reads seq scans
  from the cumulative ``pg_stat_user_tables``: pending counters of a backend are flushed when it goes
  idle, at most once a second, unless ``pg_stat_force_next_flush()`` (PostgreSQL 15+) asked for the
  next flush ("The Cumulative Statistics System", monitoring-stats.html).
"""

from __future__ import annotations

import threading
from typing import Any

import psycopg
from pglast import ast
from pglast.enums import ReindexObjectType

from ..locks import docs_name
from .catalog import fetch
from .locks import LOCKS_SQL

# Statements PostgreSQL refuses inside a transaction block ("cannot run inside a transaction block"),
# or that may end the transaction themselves (a procedure may COMMIT; a DO block is checked below).
_NEVER_WRAPPED = (ast.TransactionStmt, ast.VacuumStmt, ast.CreatedbStmt, ast.DropdbStmt, ast.AlterSystemStmt,
                  ast.CreateTableSpaceStmt, ast.DropTableSpaceStmt, ast.CallStmt,
                  ast.CreateSubscriptionStmt, ast.DropSubscriptionStmt, ast.AlterSubscriptionStmt)
# Statements PostgreSQL runs only inside a transaction block (LOCK TABLE, DECLARE without HOLD:
# SQLSTATE 25P01 outside one): never wrapped, so they fail on the shadow as in production.
_ONLY_IN_BLOCK = (ast.LockStmt, ast.DeclareCursorStmt)
# PL/pgSQL statements that end or may end the transaction (COMMIT/ROLLBACK in a DO block run outside
# a transaction block, "Transaction Management" in the PL/pgSQL chapter; a CALL may do so too)
_ENDS_TRANSACTION = ("PLpgSQL_stmt_commit", "PLpgSQL_stmt_rollback", "PLpgSQL_stmt_call")


def _do_block_may_end_transaction(node: Any) -> bool:
    """True unless the DO block is PL/pgSQL that pglast's PL/pgSQL parser reads and that has no
    COMMIT, ROLLBACK or CALL."""
    import json

    from pglast.parser import parse_plpgsql_json
    from pglast.stream import RawStream

    language = next((a.arg.sval for a in node.args or () if a.defname == "language"), "plpgsql")
    if language != "plpgsql":
        return True
    try:
        tree = json.loads(parse_plpgsql_json(RawStream()(node)))
    except Exception:  # noqa: BLE001 - a body the parser cannot read: assume it may COMMIT
        return True

    def walk(value: Any) -> bool:
        if isinstance(value, dict):
            return any(k in _ENDS_TRANSACTION or walk(v) for k, v in value.items())
        if isinstance(value, list):
            return any(walk(v) for v in value)
        return False

    return walk(tree)


def _concurrent(node: Any) -> bool:
    if isinstance(node, (ast.IndexStmt, ast.DropStmt)):
        return bool(node.concurrent)
    if isinstance(node, ast.ReindexStmt):
        if node.kind in (ReindexObjectType.REINDEX_OBJECT_SYSTEM, ReindexObjectType.REINDEX_OBJECT_DATABASE,
                         ReindexObjectType.REINDEX_OBJECT_SCHEMA):
            return True  # "REINDEX SCHEMA/DATABASE/SYSTEM cannot run inside a transaction block"
        return any(isinstance(p, ast.DefElem) and p.defname == "concurrently" for p in node.params or ())
    if isinstance(node, ast.ClusterStmt):
        return node.relation is None  # CLUSTER of the whole database cannot run in a transaction
    if isinstance(node, ast.AlterTableStmt):
        for cmd in node.cmds or ():
            pc = getattr(cmd, "def_", None)
            if isinstance(pc, ast.PartitionCmd) and pc.concurrent:
                return True
    return False


def documented_lock(nodes: tuple[Any, ...] | None) -> str | None:
    """The table lock a statement that cannot run in a transaction block takes by its kind, when the
    PostgreSQL docs fix it: the CONCURRENTLY forms ("CREATE INDEX", "DROP INDEX", "REINDEX", "ALTER
    TABLE ... DETACH PARTITION ... CONCURRENTLY") and plain VACUUM take SHARE UPDATE EXCLUSIVE. None
    for anything else (CALL, a DO block that commits, VACUUM FULL…)."""
    if not nodes or len(nodes) != 1:
        return None
    node = nodes[0]
    if isinstance(node, ast.VacuumStmt):
        full = any(isinstance(o, ast.DefElem) and o.defname == "full" for o in node.options or ())
        return None if full else "SHARE UPDATE EXCLUSIVE"
    if _concurrent(node) and not isinstance(node, ast.ClusterStmt) and not (
            isinstance(node, ast.ReindexStmt) and node.kind in (ReindexObjectType.REINDEX_OBJECT_SYSTEM,
                                                                ReindexObjectType.REINDEX_OBJECT_DATABASE,
                                                                ReindexObjectType.REINDEX_OBJECT_SCHEMA)):
        return "SHARE UPDATE EXCLUSIVE"
    return None


def wrappable(nodes: tuple[Any, ...] | None) -> bool:
    """True when every statement of ``nodes`` (pglast) can run inside a transaction block and none
    ends one. False for SQL that did not parse: it is sampled instead."""
    if not nodes:
        return False
    return may_run_in_block(nodes) and not any(isinstance(n, _ONLY_IN_BLOCK) for n in nodes)


def may_run_in_block(nodes: tuple[Any, ...] | None) -> bool:
    """True when every statement of ``nodes`` can run inside a transaction block (an explicit one, or
    the implicit one of a string of several statements) and none ends it."""
    if not nodes:
        return False
    return not any(isinstance(n, _NEVER_WRAPPED) or _concurrent(n)
                   or isinstance(n, ast.DoStmt) and _do_block_may_end_transaction(n) for n in nodes)


class LockSampler:
    """Reads the relation locks of one backend from its own connection, in a thread, every
    ``interval_s`` while started; ``stop()`` returns the union of what it saw."""

    def __init__(self, conninfo: str, interval_s: float = 0.002):
        self._conn = psycopg.connect(conninfo, autocommit=True)
        self._interval = interval_s
        self._thread: threading.Thread | None = None
        self._stop = threading.Event()
        self._seen: set[tuple[int, str]] = set()
        self.samples = 0

    def start(self, pid: int) -> None:
        self._seen, self.samples = set(), 0
        self._stop.clear()
        self._thread = threading.Thread(target=self._loop, args=(pid,), daemon=True,
                                        name="alembic-guard-lock-sampler")
        self._thread.start()

    def _loop(self, pid: int) -> None:
        while not self._stop.is_set():
            try:
                rows = self._conn.execute(LOCKS_SQL, (pid,)).fetchall()
            except psycopg.Error:
                return
            self.samples += 1
            self._seen.update((int(oid), docs_name(mode)) for oid, mode in rows)
            self._stop.wait(self._interval)

    def stop(self) -> set[tuple[int, str]]:
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
            self._thread = None
        return set(self._seen)

    def close(self) -> None:
        self.stop()
        self._conn.close()


CUMULATIVE_SCANS_SQL = "select relid::bigint, seq_scan::bigint from pg_catalog.pg_stat_user_tables"


class ScanCounter:
    """Cumulative seq-scan counts per table OID, read after the migration backend flushed its pending
    statistics (PostgreSQL 15+; older servers: counts may arrive late and be missed)."""

    def __init__(self, conninfo: str, server_version_num: int):
        self._conn = psycopg.connect(conninfo, autocommit=True)
        self._flushable = server_version_num >= 150000

    def counts(self, migration_dbapi: Any) -> dict[int, int]:
        """Flush the migration backend's pending counters (it must be idle, outside a transaction:
        the flush happens as it goes idle, before it answers), then read the counts."""
        if self._flushable:
            fetch(migration_dbapi, "select pg_catalog.pg_stat_force_next_flush()")
        self._conn.execute("select pg_catalog.pg_stat_clear_snapshot()")
        return {int(oid): int(n) for oid, n in self._conn.execute(CUMULATIVE_SCANS_SQL).fetchall()}

    def close(self) -> None:
        self._conn.close()
