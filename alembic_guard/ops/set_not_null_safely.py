"""``op.set_not_null_safely``: SET NOT NULL without a full scan under ACCESS EXCLUSIVE.

* ``check`` route (PostgreSQL ≥ 12): ``CHECK (col IS NOT NULL) NOT VALID`` → COMMIT → ``VALIDATE``
  (SHARE UPDATE EXCLUSIVE) → ``SET NOT NULL`` (skips its scan because the validated CHECK proves it)
  + ``DROP CONSTRAINT`` of the helper CHECK, both instant.
* ``native`` route (PostgreSQL ≥ 18): ``ADD CONSTRAINT <table>_<col>_not_null NOT NULL col NOT VALID``
  → COMMIT → ``VALIDATE CONSTRAINT``. Observed on 18.6: the NOT VALID step already sets
  ``pg_attribute.attnotnull`` (new NULLs are rejected at once), VALIDATE scans under SHARE UPDATE
  EXCLUSIVE, and a later ``ALTER COLUMN … SET NOT NULL`` is a no-op (no scan, keeps the name), so the
  result equals a plain SET NOT NULL. The name is PostgreSQL's default for NOT NULL constraints.
"""

from __future__ import annotations

from typing import Any, Literal

from ..errors import GuardError
from ..pg_versions import NOT_NULL_NOT_VALID
from . import _catalog as catalog
from ._base import GuardOp, register
from ._runner import Runner
from ._sql import derived_name, ident, qualified
from .validate_constraint import validate_step
from ._log import log


Method = Literal["auto", "check", "native"]


def helper_check_name(table_name: str, column_name: str) -> str:
    """Name of the temporary CHECK of the check route (stable, so a rerun finds it)."""
    return derived_name(table_name, column_name, "not_null_chk")


def native_constraint_name(table_name: str, column_name: str) -> str:
    return derived_name(table_name, column_name, "not_null")


def _check_route(runner: Runner, table_sql: str, column_name: str, check_name: str, *, present: bool = False,
                 validated: bool = False) -> None:
    col = ident(column_name)
    if not present:
        runner.transaction(f"add check {ident(check_name)} ({col} IS NOT NULL) NOT VALID on {table_sql}",
                           [f"ALTER TABLE {table_sql} ADD CONSTRAINT {ident(check_name)} "
                            f"CHECK ({col} IS NOT NULL) NOT VALID"])
    if not validated:
        validate_step(runner, table_sql, check_name)
    runner.transaction(f"set not null {table_sql}.{col} (validated check: no scan), drop helper check",
                       [f"ALTER TABLE {table_sql} ALTER COLUMN {col} SET NOT NULL",
                        f"ALTER TABLE {table_sql} DROP CONSTRAINT IF EXISTS {ident(check_name)}"])


def set_not_null_safely(runner: Runner, table_name: str, column_name: str, *, schema: str | None = None,
                        method: Method = "auto", constraint_name: str | None = None) -> None:
    if method not in ("auto", "check", "native"):
        raise ValueError(f"method must be 'auto', 'check' or 'native', not {method!r}")
    with runner.outside_transaction():
        if runner.offline:
            _offline(runner, table_name, column_name, schema, method, constraint_name)
            return
        table = catalog.table(runner, table_name, schema)
        col = catalog.column(runner, table, column_name)
        native = NOT_NULL_NOT_VALID.on(runner.server_version_num)
        if method == "native" and not native:
            raise GuardError("method='native' (ADD CONSTRAINT … NOT NULL … NOT VALID) needs PostgreSQL 18 or later.")
        use_native = method == "native" or (method == "auto" and native)
        nn = col.not_null_constraint
        check_name = helper_check_name(table.name, column_name) if use_native or constraint_name is None \
            else constraint_name
        leftover = catalog.constraint(runner, table.oid, check_name)
        if col.not_null and (nn is None or nn[1]):
            log.info("column %s.%s is already NOT NULL", table.sql, ident(column_name))
            if leftover is not None and leftover.contype == "c":
                runner.transaction(f"drop helper check {ident(check_name)}",
                                   [f"ALTER TABLE {table.sql} DROP CONSTRAINT IF EXISTS {ident(check_name)}"])
            return
        if nn is not None and not nn[1]:  # PG >= 18: a NOT VALID not-null constraint exists: validate it
            validate_step(runner, table.sql, nn[0])
            return
        if use_native:
            name = constraint_name or native_constraint_name(table.name, column_name)
            runner.transaction(f"add not null {ident(name)} on {table.sql}.{ident(column_name)} NOT VALID",
                               [f"ALTER TABLE {table.sql} ADD CONSTRAINT {ident(name)} "
                                f"NOT NULL {ident(column_name)} NOT VALID"])
            validate_step(runner, table.sql, name)
            return
        if leftover is not None and leftover.contype != "c":
            raise GuardError(f"constraint {check_name!r} on {table.sql} exists and is not a CHECK.")
        _check_route(runner, table.sql, column_name, check_name, present=leftover is not None,
                     validated=bool(leftover and leftover.validated))


def _offline(runner: Runner, table_name: str, column_name: str, schema: str | None, method: Method,
             constraint_name: str | None) -> None:
    table_sql = qualified(table_name, schema)
    if method == "native":
        name = constraint_name or native_constraint_name(table_name, column_name)
        runner.transaction(f"add not null {ident(name)} NOT VALID (PostgreSQL >= 18)",
                           [f"ALTER TABLE {table_sql} ADD CONSTRAINT {ident(name)} "
                            f"NOT NULL {ident(column_name)} NOT VALID"])
        validate_step(runner, table_sql, name)
        return
    runner.comment(f"set_not_null_safely {table_sql}.{ident(column_name)} via a validated CHECK "
                   "(PostgreSQL >= 12; on 18+ method='native' renders ADD CONSTRAINT … NOT NULL … NOT VALID)")
    _check_route(runner, table_sql, column_name, constraint_name or helper_check_name(table_name, column_name))


@register("set_not_null_safely", set_not_null_safely)
class SetNotNullSafelyOp(GuardOp):
    @classmethod
    def set_not_null_safely(cls, operations: Any, table_name: str, column_name: str, *, schema: str | None = None,
                            method: Method = "auto", constraint_name: str | None = None,
                            lock_timeout_ms: int | None = None, statement_timeout_ms: int | None = None,
                            attempts: int | None = None, **settings: Any) -> None:
        """Make ``column_name`` NOT NULL without scanning the table under ACCESS EXCLUSIVE.

        ``method``: ``"auto"`` (``native`` on PostgreSQL ≥ 18, else ``check``), ``"check"`` or
        ``"native"`` (see the module doc for both routes). Every ACCESS EXCLUSIVE step is instant and
        runs under ``lock_timeout_ms`` with retries; the scan is the VALIDATE step (SHARE UPDATE
        EXCLUSIVE: reads and writes continue; ``concurrent_*`` timeouts). Each step commits.
        ``constraint_name`` names the NOT NULL constraint (native; default ``<table>_<col>_not_null``)
        or the helper CHECK (check route; default ``<table>_<col>_not_null_chk``).
        Idempotent: an already NOT NULL column is left alone, a leftover helper CHECK is reused or
        dropped, a NOT VALID not-null constraint (PG ≥ 18) is validated.
        Raises GuardError (no such table/column, native on PG < 18), LockRetryExhausted, or 23514
        check_violation / 23502 not_null_violation from VALIDATE when NULLs remain (backfill first).
        See https://www.postgresql.org/docs/current/sql-altertable.html (SET NOT NULL,
        ADD table_constraint NOT VALID).
        """
        return operations.invoke(cls(table_name, column_name, schema=schema,
                                     method=None if method == "auto" else method, constraint_name=constraint_name,
                                     lock_timeout_ms=lock_timeout_ms, statement_timeout_ms=statement_timeout_ms,
                                     attempts=attempts, **settings))
