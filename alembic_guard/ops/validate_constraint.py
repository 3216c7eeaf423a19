"""``op.validate_constraint``: ALTER TABLE … VALIDATE CONSTRAINT in its own transaction."""

from __future__ import annotations

from typing import Any

from ..errors import GuardError
from . import _catalog as catalog
from ._base import GuardOp, register
from ._runner import Runner
from ._sql import ident, qualified
from ._log import log


def validate_step(runner: Runner, table_sql: str, constraint_name: str) -> None:
    """VALIDATE in a transaction of its own (SHARE UPDATE EXCLUSIVE: reads and writes continue)."""
    runner.transaction(f"validate constraint {ident(constraint_name)} on {table_sql}",
                       [f"ALTER TABLE {table_sql} VALIDATE CONSTRAINT {ident(constraint_name)}"], blocking=False)


def validate_constraint(runner: Runner, constraint_name: str, table_name: str, *, schema: str | None = None) -> None:
    with runner.outside_transaction():
        if runner.offline:
            validate_step(runner, qualified(table_name, schema), constraint_name)
            return
        table = catalog.table(runner, table_name, schema)
        state = catalog.constraint(runner, table.oid, constraint_name)
        if state is None:
            raise GuardError(f"constraint {constraint_name!r} does not exist on {table.sql}.")
        if state.validated:
            log.info("constraint %s on %s is already valid", ident(constraint_name), table.sql)
            return
        validate_step(runner, table.sql, constraint_name)


@register("validate_constraint", validate_constraint)
class ValidateConstraintOp(GuardOp):
    @classmethod
    def validate_constraint(cls, operations: Any, constraint_name: str, table_name: str, *,
                            schema: str | None = None, lock_timeout_ms: int | None = None,
                            statement_timeout_ms: int | None = None, attempts: int | None = None,
                            **settings: Any) -> None:
        """``ALTER TABLE … VALIDATE CONSTRAINT`` a NOT VALID CHECK, FOREIGN KEY or (PG ≥ 18) NOT NULL
        constraint, in a transaction of its own after committing the migration's transaction.

        Scans the table under SHARE UPDATE EXCLUSIVE (a foreign key also takes ROW SHARE on the
        referenced table): reads and writes continue. Uses ``concurrent_lock_timeout_ms`` /
        ``concurrent_statement_timeout_ms`` (default 0 = no limit); retried on lock timeouts.
        Idempotent: an already valid constraint is left alone.
        Raises GuardError if the constraint does not exist, the database error (e.g. 23514
        check_violation, 23503 foreign_key_violation) if rows violate it.
        See https://www.postgresql.org/docs/current/sql-altertable.html (VALIDATE CONSTRAINT).
        """
        return operations.invoke(cls(constraint_name, table_name, schema=schema, lock_timeout_ms=lock_timeout_ms,
                                     statement_timeout_ms=statement_timeout_ms, attempts=attempts, **settings))
