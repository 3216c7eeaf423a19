"""``op.run_with_lock_timeout``: run statements in their own short transaction with
``lock_timeout`` / ``statement_timeout``, retrying on lock timeouts."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, Union

from ._base import GuardOp, register
from ._runner import Runner
from ._sql import SqlText, fragment

Statements = Union[SqlText, Sequence[SqlText], Callable[[Any], Any]]


def run_with_lock_timeout(runner: Runner, statements: Statements, *, description: str | None = None,
                          blocking: bool = True) -> Any:
    if callable(statements):
        work: Any = statements
        label = description or getattr(statements, "__qualname__", "callable")
    else:
        items = [statements] if isinstance(statements, (str, bytes)) or not isinstance(statements, Sequence) \
            else list(statements)
        if not items:
            raise ValueError("run_with_lock_timeout needs at least one statement")
        work = [fragment(s) for s in items]
        label = description or work[0].splitlines()[0][:80]
    with runner.outside_transaction():
        return runner.transaction(f"run_with_lock_timeout: {label}", work, blocking=blocking)


@register("run_with_lock_timeout", run_with_lock_timeout)
class RunWithLockTimeoutOp(GuardOp):
    @classmethod
    def run_with_lock_timeout(cls, operations: Any, statements: Statements, *, description: str | None = None,
                              blocking: bool = True, lock_timeout_ms: int | None = None,
                              statement_timeout_ms: int | None = None, attempts: int | None = None,
                              **settings: Any) -> Any:
        """Run ``statements`` in one transaction of their own, outside the migration's transaction.

        ``statements``: one SQL string / SQLAlchemy construct, a list of them (run in order), or a
        callable ``fn(connection)`` (its return value is returned; in ``--sql`` mode it gets an object
        whose ``execute(sql)`` writes to the script). The transaction starts with
        ``SET LOCAL lock_timeout`` and ``SET LOCAL statement_timeout`` (``lock_timeout_ms``,
        ``statement_timeout_ms``; with ``blocking=False`` the ``concurrent_*`` settings are used).
        On SQLSTATE 55P03 (lock_not_available), 40P01 or 40001 it is rolled back and retried up to
        ``attempts`` times with exponential backoff and full jitter (``retry_backoff_min_ms``,
        ``retry_backoff_max_ms``, ``retry_max_total_ms`` in ``**settings``); each failed attempt is
        logged (logger ``alembic_guard.ops``) with the lock it waited for and who held it.

        Alembic's transaction is committed first (``autocommit_block``) and resumed afterwards, so
        locks taken here are released at this step's COMMIT. Write the statements so that running
        them twice is harmless (``IF NOT EXISTS``): an interrupted upgrade is rerun from the start of
        the revision.

        Raises LockRetryExhausted when every attempt timed out, or the database error of a failed
        statement. See https://www.postgresql.org/docs/current/runtime-config-client.html
        (lock_timeout) and https://www.postgresql.org/docs/current/explicit-locking.html.
        """
        return operations.invoke(cls(statements, description=description, blocking=blocking if not blocking else None,
                                     lock_timeout_ms=lock_timeout_ms, statement_timeout_ms=statement_timeout_ms,
                                     attempts=attempts, **settings))
