"""The vocabulary the runtime helpers share, below the Runner (``_runner.py``): a step's work and
the script an offline run writes to. It imports no other ops module, so ``_runner`` and the helpers
it is built from (``_offline``, ``_blockers``, ``_retry``) all depend on it and never on each other
in a circle."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, Protocol, TypeVar, Union

T = TypeVar("T")

# What a step runs: statements (executed in order), or ``callable(connection)``.
Work = Union[Sequence[str], Callable[[Any], T]]


class Script(Protocol):
    """Where ``alembic upgrade --sql`` output goes (the Runner writes to Alembic's output buffer)."""

    def emit(self, sql: str) -> None:
        """One statement (``;`` added)."""

    def comment(self, line: str) -> None:
        """``-- line`` for each line of ``line``."""

    def blank(self) -> None:
        """An empty line between steps."""
