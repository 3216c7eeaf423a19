"""``op.add_primary_key_using_index``: NOT NULL via a validated constraint on nullable key columns,
CREATE UNIQUE INDEX CONCURRENTLY, then ``ADD CONSTRAINT … PRIMARY KEY USING INDEX`` (instant)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from . import _catalog as catalog
from ._base import GuardOp, register
from ._runner import Runner
from .add_unique_constraint_using_index import constraint_using_index
from .set_not_null_safely import set_not_null_safely


def add_primary_key_using_index(runner: Runner, constraint_name: str, table_name: str, columns: Sequence[str], *,
                                schema: str | None = None, deferrable: bool | None = None,
                                initially: str | None = None) -> None:
    columns = [columns] if isinstance(columns, str) else list(columns)

    def make_not_null(table: catalog.Relation | None) -> None:
        # ADD PRIMARY KEY USING INDEX on a nullable column runs SET NOT NULL itself, scanning the
        # table under ACCESS EXCLUSIVE. Make every key column NOT NULL the safe way first.
        for name in columns:
            if table is None or not catalog.column(runner, table, name).not_null or \
                    _needs_validation(runner, table, name):
                set_not_null_safely(runner, table_name, name, schema=schema)

    constraint_using_index(runner, "PRIMARY KEY", constraint_name, table_name, columns, schema, deferrable,
                           initially, before=make_not_null)


def _needs_validation(runner: Runner, table: catalog.Relation, name: str) -> bool:
    nn = catalog.column(runner, table, name).not_null_constraint
    return nn is not None and not nn[1]


@register("add_primary_key_using_index", add_primary_key_using_index)
class AddPrimaryKeyUsingIndexOp(GuardOp):
    @classmethod
    def add_primary_key_using_index(cls, operations: Any, constraint_name: str, table_name: str,
                                    columns: Sequence[str], *, schema: str | None = None,
                                    deferrable: bool | None = None, initially: str | None = None,
                                    lock_timeout_ms: int | None = None, statement_timeout_ms: int | None = None,
                                    attempts: int | None = None, **settings: Any) -> None:
        """Add a PRIMARY KEY without a build or scan under ACCESS EXCLUSIVE.

        1. Each nullable key column is made NOT NULL with ``set_not_null_safely`` (VALIDATE under
           SHARE UPDATE EXCLUSIVE; otherwise USING INDEX would scan under ACCESS EXCLUSIVE).
        2. ``CREATE UNIQUE INDEX CONCURRENTLY IF NOT EXISTS <constraint_name>`` (SHARE UPDATE EXCLUSIVE).
        3. ``ALTER TABLE … ADD CONSTRAINT <constraint_name> PRIMARY KEY USING INDEX …`` — ACCESS
           EXCLUSIVE for an instant, under ``lock_timeout_ms`` with retries.

        Idempotent by constraint name; not for partitioned tables. Raises GuardError,
        LockRetryExhausted, 23502/23514 when NULLs remain, 23505 on duplicates.
        See https://www.postgresql.org/docs/current/sql-altertable.html (ADD table_constraint_using_index).
        """
        return operations.invoke(cls(constraint_name, table_name, [columns] if isinstance(columns, str)
                                     else list(columns), schema=schema, deferrable=deferrable, initially=initially,
                                     lock_timeout_ms=lock_timeout_ms, statement_timeout_ms=statement_timeout_ms,
                                     attempts=attempts, **settings))
