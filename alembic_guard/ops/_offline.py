"""Offline (``alembic upgrade --sql``) rendering of a step: the statements a step would run are
written to the script, wrapped in the BEGIN / SET LOCAL … / COMMIT (or session SET … / RESET)
that the online run would use."""

from __future__ import annotations

from typing import Any

from ..errors import GuardError
from ._sql import fragment
from ._work import Script, Work


class OfflineConnection:
    """Stand-in for the connection given to a step's callable in offline (``--sql``) mode:
    ``execute`` / ``exec_driver_sql`` write the statement to the script."""

    def __init__(self, script: Script):
        self._script = script

    def execute(self, statement: Any, parameters: Any = None) -> None:
        if parameters:
            raise GuardError("offline (--sql) mode cannot render bound parameters; inline the values.")
        if not isinstance(statement, str):
            statement = fragment(statement)
        self._script.emit(statement)

    exec_driver_sql = execute


def _render(script: Script, work: Work) -> Any:
    if callable(work):
        return work(OfflineConnection(script))
    for statement in work:
        script.emit(statement)
    return None


def render_transaction(runner: Script, step: str, work: Work, lock_timeout_ms: int, statement_timeout_ms: int) -> Any:
    """Offline :meth:`Runner.transaction`: the step in its own BEGIN … COMMIT with SET LOCAL timeouts."""
    lt, st = lock_timeout_ms, statement_timeout_ms
    runner.comment(step)
    runner.emit("BEGIN")
    runner.emit(f"SET LOCAL lock_timeout = '{lt}ms'")
    runner.emit(f"SET LOCAL statement_timeout = '{st}ms'")
    result = _render(runner, work)
    runner.emit("COMMIT")
    runner.blank()
    return result


def render_autocommit(runner: Script, step: str, work: Work, lock_timeout_ms: int, statement_timeout_ms: int) -> Any:
    """Offline :meth:`Runner.autocommit`: the step outside a transaction with session timeouts, reset after."""
    lt, st = lock_timeout_ms, statement_timeout_ms
    runner.comment(f"{step} -- run outside a transaction")
    runner.emit(f"SET lock_timeout = '{lt}ms'")
    runner.emit(f"SET statement_timeout = '{st}ms'")
    result = _render(runner, work)
    runner.emit("RESET lock_timeout")
    runner.emit("RESET statement_timeout")
    runner.blank()
    return result
