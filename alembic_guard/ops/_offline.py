"""Offline (``alembic upgrade --sql``) rendering of a step: the statements a step would run are
written to the script, wrapped in the BEGIN / SET LOCAL … / COMMIT (or session SET … / RESET)
that the online run would use."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ..errors import GuardError

if TYPE_CHECKING:
    from ._runner import Runner, Work


class OfflineConnection:
    """Stand-in for the connection given to a step's callable in offline (``--sql``) mode:
    ``execute`` / ``exec_driver_sql`` write the statement to the script."""

    def __init__(self, runner: Runner):
        self._runner = runner

    def execute(self, statement: Any, parameters: Any = None) -> None:
        if parameters:
            raise GuardError("offline (--sql) mode cannot render bound parameters; inline the values.")
        if not isinstance(statement, str):
            from ._sql import fragment

            statement = fragment(statement)
        self._runner.emit(statement)

    exec_driver_sql = execute


def render_transaction(runner: Runner, step: str, work: Work, lock_timeout_ms: int, statement_timeout_ms: int) -> Any:
    """Offline :meth:`Runner.transaction`: the step in its own BEGIN … COMMIT with SET LOCAL timeouts."""
    lt, st = lock_timeout_ms, statement_timeout_ms
    runner.comment(step)
    runner.emit("BEGIN")
    runner.emit(f"SET LOCAL lock_timeout = '{lt}ms'")
    runner.emit(f"SET LOCAL statement_timeout = '{st}ms'")
    result = runner._do(work, OfflineConnection(runner))
    runner.emit("COMMIT")
    runner.blank()
    return result


def render_autocommit(runner: Runner, step: str, work: Work, lock_timeout_ms: int, statement_timeout_ms: int) -> Any:
    """Offline :meth:`Runner.autocommit`: the step outside a transaction with session timeouts, reset after."""
    lt, st = lock_timeout_ms, statement_timeout_ms
    runner.comment(f"{step} -- run outside a transaction")
    runner.emit(f"SET lock_timeout = '{lt}ms'")
    runner.emit(f"SET statement_timeout = '{st}ms'")
    result = runner._do(work, OfflineConnection(runner))
    runner.emit("RESET lock_timeout")
    runner.emit("RESET statement_timeout")
    runner.blank()
    return result
