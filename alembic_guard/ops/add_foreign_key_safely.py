"""``op.add_foreign_key_safely``: ADD FOREIGN KEY … NOT VALID, commit, VALIDATE in another transaction."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from ..errors import GuardError
from . import _catalog as catalog
from ._base import GuardOp, register
from ._runner import Runner
from ._sql import ident, ident_list, qualified
from .validate_constraint import validate_step
from ._log import log


_ACTIONS = {"CASCADE", "SET NULL", "SET DEFAULT", "RESTRICT", "NO ACTION"}
_MATCH = {"FULL", "SIMPLE", "PARTIAL"}
_INITIALLY = {"DEFERRED", "IMMEDIATE"}


def _keyword(value: str | None, allowed: set[str], what: str) -> str | None:
    if value is None:
        return None
    word = " ".join(str(value).upper().split())
    if word not in allowed:
        raise ValueError(f"{what} must be one of {', '.join(sorted(allowed))}, not {value!r}")
    return word


def foreign_key_sql(table_sql: str, constraint_name: str, local_cols: Sequence[str], referent_sql: str,
                    remote_cols: Sequence[str], *, ondelete: str | None = None, onupdate: str | None = None,
                    match: str | None = None, deferrable: bool | None = None, initially: str | None = None) -> str:
    if not local_cols or len(local_cols) != len(remote_cols):
        raise ValueError("local_cols and remote_cols must be non-empty and of the same length")
    sql = (f"ALTER TABLE {table_sql} ADD CONSTRAINT {ident(constraint_name)} FOREIGN KEY "
           f"({ident_list(list(local_cols))}) REFERENCES {referent_sql} ({ident_list(list(remote_cols))})")
    if match := _keyword(match, _MATCH, "match"):
        sql += f" MATCH {match}"
    if ondelete := _keyword(ondelete, _ACTIONS, "ondelete"):
        sql += f" ON DELETE {ondelete}"
    if onupdate := _keyword(onupdate, _ACTIONS, "onupdate"):
        sql += f" ON UPDATE {onupdate}"
    if deferrable is not None:
        sql += " DEFERRABLE" if deferrable else " NOT DEFERRABLE"
    if initially := _keyword(initially, _INITIALLY, "initially"):
        sql += f" INITIALLY {initially}"
    return sql + " NOT VALID"


def add_foreign_key_safely(runner: Runner, constraint_name: str, table_name: str, referent_table: str,
                           local_cols: Sequence[str], remote_cols: Sequence[str], *, schema: str | None = None,
                           referent_schema: str | None = None, ondelete: str | None = None,
                           onupdate: str | None = None, match: str | None = None, deferrable: bool | None = None,
                           initially: str | None = None, validate: bool = True) -> None:
    local_cols, remote_cols = _as_list(local_cols), _as_list(remote_cols)
    options = dict(ondelete=ondelete, onupdate=onupdate, match=match, deferrable=deferrable, initially=initially)
    with runner.outside_transaction():
        if runner.offline:
            table_sql = qualified(table_name, schema)
            referent_sql = qualified(referent_table, referent_schema if referent_schema is not None else schema)
            add_step(runner, table_sql, constraint_name,
                     foreign_key_sql(table_sql, constraint_name, local_cols, referent_sql, remote_cols, **options))
            if validate:
                validate_step(runner, table_sql, constraint_name)
            return
        table = catalog.table(runner, table_name, schema)
        referent = catalog.table(runner, referent_table, referent_schema if referent_schema is not None else schema)
        state = catalog.constraint(runner, table.oid, constraint_name)
        if state is not None and state.contype != "f":
            raise GuardError(f"constraint {constraint_name!r} on {table.sql} exists and is not a foreign key.")
        if state is None:
            add_step(runner, table.sql, constraint_name,
                     foreign_key_sql(table.sql, constraint_name, local_cols, referent.sql, remote_cols, **options))
        else:
            log.info("foreign key %s on %s already exists", ident(constraint_name), table.sql)
        if validate and not (state and state.validated):
            validate_step(runner, table.sql, constraint_name)


def add_step(runner: Runner, table_sql: str, constraint_name: str, sql: str) -> None:
    runner.transaction(f"add foreign key {ident(constraint_name)} on {table_sql} NOT VALID", [sql])


def _as_list(cols: Sequence[str] | str) -> list[str]:
    return [cols] if isinstance(cols, str) else list(cols)


@register("add_foreign_key_safely", add_foreign_key_safely)
class AddForeignKeySafelyOp(GuardOp):
    @classmethod
    def add_foreign_key_safely(cls, operations: Any, constraint_name: str, table_name: str, referent_table: str,
                               local_cols: Sequence[str], remote_cols: Sequence[str], *,
                               schema: str | None = None, referent_schema: str | None = None,
                               ondelete: str | None = None, onupdate: str | None = None, match: str | None = None,
                               deferrable: bool | None = None, initially: str | None = None,
                               validate: bool = True, lock_timeout_ms: int | None = None,
                               statement_timeout_ms: int | None = None, attempts: int | None = None,
                               **settings: Any) -> None:
        """Add a foreign key without blocking writes for the length of a scan.

        1. ``ALTER TABLE … ADD CONSTRAINT … FOREIGN KEY … NOT VALID`` — SHARE ROW EXCLUSIVE on both
           tables for an instant (no scan), under ``lock_timeout_ms`` with retries; new and updated
           rows are checked from then on.
        2. COMMIT, then ``VALIDATE CONSTRAINT`` in its own transaction — scans the referencing table
           under SHARE UPDATE EXCLUSIVE (plus ROW SHARE on the referenced table): reads and writes
           continue. Skipped with ``validate=False``.

        ``referent_schema`` defaults to ``schema``. ``ondelete`` / ``onupdate`` are one of CASCADE,
        SET NULL, SET DEFAULT, RESTRICT, NO ACTION; ``match`` FULL / SIMPLE / PARTIAL; ``initially``
        DEFERRED / IMMEDIATE (ValueError otherwise). Idempotent by constraint name. Index the
        referencing columns separately (``op.create_index_concurrently``).
        Raises GuardError, LockRetryExhausted, or 23503 foreign_key_violation from VALIDATE.
        See https://www.postgresql.org/docs/current/sql-altertable.html (NOT VALID).
        """
        return operations.invoke(cls(constraint_name, table_name, referent_table, _as_list(local_cols),
                                     _as_list(remote_cols), schema=schema, referent_schema=referent_schema,
                                     ondelete=ondelete, onupdate=onupdate, match=match, deferrable=deferrable,
                                     initially=initially, validate=None if validate else False,
                                     lock_timeout_ms=lock_timeout_ms, statement_timeout_ms=statement_timeout_ms,
                                     attempts=attempts, **settings))
