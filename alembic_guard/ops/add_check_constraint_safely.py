"""``op.add_check_constraint_safely``: ADD CHECK … NOT VALID, commit, VALIDATE in another transaction."""

from __future__ import annotations

from typing import Any

from ..errors import GuardError
from . import _catalog as catalog
from ._base import GuardOp, register
from ._runner import Runner
from ._sql import SqlText, fragment, ident, qualified
from .validate_constraint import validate_step
from ._log import log


def add_check_constraint_safely(runner: Runner, constraint_name: str, table_name: str, condition: SqlText, *,
                                schema: str | None = None, validate: bool = True) -> None:
    condition_sql = fragment(condition)
    with runner.outside_transaction():
        if runner.offline:
            table_sql = qualified(table_name, schema)
            add_step(runner, table_sql, constraint_name, condition_sql)
            if validate:
                validate_step(runner, table_sql, constraint_name)
            return
        table = catalog.table(runner, table_name, schema)
        state = catalog.constraint(runner, table.oid, constraint_name)
        if state is not None and state.contype != "c":
            raise GuardError(f"constraint {constraint_name!r} on {table.sql} exists and is not a CHECK.")
        if state is None:
            add_step(runner, table.sql, constraint_name, condition_sql)
        else:
            log.info("check constraint %s on %s already exists", ident(constraint_name), table.sql)
        if validate and not (state and state.validated):
            validate_step(runner, table.sql, constraint_name)


def add_step(runner: Runner, table_sql: str, constraint_name: str, condition_sql: str) -> None:
    runner.transaction(f"add check constraint {ident(constraint_name)} on {table_sql} NOT VALID",
                       [f"ALTER TABLE {table_sql} ADD CONSTRAINT {ident(constraint_name)} "
                        f"CHECK ({condition_sql}) NOT VALID"])


@register("add_check_constraint_safely", add_check_constraint_safely)
class AddCheckConstraintSafelyOp(GuardOp):
    @classmethod
    def add_check_constraint_safely(cls, operations: Any, constraint_name: str, table_name: str,
                                    condition: SqlText, *, schema: str | None = None, validate: bool = True,
                                    lock_timeout_ms: int | None = None, statement_timeout_ms: int | None = None,
                                    attempts: int | None = None, **settings: Any) -> None:
        """Add a CHECK constraint without a long ACCESS EXCLUSIVE lock.

        1. ``ALTER TABLE … ADD CONSTRAINT … CHECK (condition) NOT VALID`` — ACCESS EXCLUSIVE for an
           instant (no scan), under ``lock_timeout_ms`` with retries; new rows are checked from now on.
        2. COMMIT, then ``VALIDATE CONSTRAINT`` in its own transaction — scans under SHARE UPDATE
           EXCLUSIVE (reads and writes continue). Skipped with ``validate=False``.

        ``condition`` is SQL (a string, or a SQLAlchemy expression). Idempotent: an existing CHECK of
        that name is not added again, and validated only if it is not valid yet.
        Raises GuardError (a non-CHECK constraint has the name), LockRetryExhausted, or 23514
        check_violation from VALIDATE (the NOT VALID constraint then stays, enforcing new rows).
        See https://www.postgresql.org/docs/current/sql-altertable.html (NOT VALID).
        """
        return operations.invoke(cls(constraint_name, table_name, condition, schema=schema,
                                     validate=None if validate else False, lock_timeout_ms=lock_timeout_ms,
                                     statement_timeout_ms=statement_timeout_ms, attempts=attempts, **settings))
