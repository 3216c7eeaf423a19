"""``op.add_unique_constraint_using_index``: CREATE UNIQUE INDEX CONCURRENTLY, then
``ALTER TABLE … ADD CONSTRAINT … UNIQUE USING INDEX`` (instant)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from ..errors import GuardError
from . import _catalog as catalog
from ._base import GuardOp, register
from ._runner import Runner
from ._sql import ident, qualified
from .create_index_concurrently import build_concurrently, index_sql
from ._log import log


def constraint_using_index(runner: Runner, kind: str, constraint_name: str, table_name: str, columns: Sequence[str],
                           schema: str | None, deferrable: bool | None, initially: str | None,
                           before: Any = None) -> None:
    """Shared by UNIQUE and PRIMARY KEY: build the unique index concurrently under the constraint's
    name (USING INDEX would rename it anyway), then attach it as the constraint."""
    contype = "p" if kind == "PRIMARY KEY" else "u"
    columns = [columns] if isinstance(columns, str) else list(columns)
    if not columns or not all(isinstance(c, str) for c in columns):
        raise ValueError("columns must be a non-empty list of column names")
    suffix = ""
    if deferrable is not None:
        suffix += " DEFERRABLE" if deferrable else " NOT DEFERRABLE"
    if initially is not None:
        word = initially.upper()
        if word not in ("DEFERRED", "IMMEDIATE"):
            raise ValueError(f"initially must be DEFERRED or IMMEDIATE, not {initially!r}")
        suffix += f" INITIALLY {word}"
    with runner.outside_transaction():
        if runner.offline:
            table_sql = qualified(table_name, schema)
            if before:
                before(None)
            runner.autocommit(f"build the unique index of {kind} {ident(constraint_name)}",
                              [index_sql(constraint_name, table_sql, columns, unique=True)])
            runner.transaction(f"add {kind} {ident(constraint_name)} using the index (instant)",
                               [f"ALTER TABLE {table_sql} ADD CONSTRAINT {ident(constraint_name)} {kind} "
                                f"USING INDEX {ident(constraint_name)}{suffix}"])
            return
        table = catalog.table(runner, table_name, schema)
        state = catalog.constraint(runner, table.oid, constraint_name)
        if state is not None:
            if state.contype != contype:
                raise GuardError(f"constraint {constraint_name!r} on {table.sql} exists and is not a {kind}.")
            log.info("%s %s on %s already exists", kind, ident(constraint_name), table.sql)
            return
        if table.relkind == "p":
            raise GuardError(f"{table.sql} is partitioned: PostgreSQL does not support ADD CONSTRAINT … USING INDEX "
                             "on partitioned tables.",
                             hint="Build the unique index on each partition with op.create_index_concurrently, then "
                                  "add the constraint on the parent (it attaches matching partition indexes).")
        if before:
            before(table)
        build_concurrently(runner, constraint_name, table, columns, unique=True)
        runner.transaction(f"add {kind} {ident(constraint_name)} on {table.sql} using index",
                           [f"ALTER TABLE {table.sql} ADD CONSTRAINT {ident(constraint_name)} {kind} "
                            f"USING INDEX {ident(constraint_name)}{suffix}"])


def add_unique_constraint_using_index(runner: Runner, constraint_name: str, table_name: str, columns: Sequence[str],
                                      *, schema: str | None = None, deferrable: bool | None = None,
                                      initially: str | None = None) -> None:
    constraint_using_index(runner, "UNIQUE", constraint_name, table_name, columns, schema, deferrable, initially)


@register("add_unique_constraint_using_index", add_unique_constraint_using_index)
class AddUniqueConstraintUsingIndexOp(GuardOp):
    @classmethod
    def add_unique_constraint_using_index(cls, operations: Any, constraint_name: str, table_name: str,
                                          columns: Sequence[str], *, schema: str | None = None,
                                          deferrable: bool | None = None, initially: str | None = None,
                                          lock_timeout_ms: int | None = None,
                                          statement_timeout_ms: int | None = None, attempts: int | None = None,
                                          **settings: Any) -> None:
        """Add a UNIQUE constraint without building its index under ACCESS EXCLUSIVE.

        1. ``CREATE UNIQUE INDEX CONCURRENTLY IF NOT EXISTS <constraint_name> ON table (columns)``
           outside a transaction (SHARE UPDATE EXCLUSIVE; see ``create_index_concurrently``).
        2. ``ALTER TABLE … ADD CONSTRAINT <constraint_name> UNIQUE USING INDEX <constraint_name>``
           — ACCESS EXCLUSIVE for an instant, under ``lock_timeout_ms`` with retries.

        ``columns`` are column names. Idempotent (an existing UNIQUE constraint of that name is left
        alone; a valid index is reused; an INVALID one is rebuilt). Not for partitioned tables.
        Raises GuardError, LockRetryExhausted, or 23505 unique_violation from the index build (the
        INVALID index is dropped before raising).
        See https://www.postgresql.org/docs/current/sql-altertable.html (ADD table_constraint_using_index).
        """
        return operations.invoke(cls(constraint_name, table_name, [columns] if isinstance(columns, str)
                                     else list(columns), schema=schema, deferrable=deferrable, initially=initially,
                                     lock_timeout_ms=lock_timeout_ms, statement_timeout_ms=statement_timeout_ms,
                                     attempts=attempts, **settings))
