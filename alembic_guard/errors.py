"""Errors alembic_guard raises for bad input or an unusable environment.

Every such error becomes one readable paragraph and exit status 2 in the CLI.
"""

from __future__ import annotations


class GuardError(Exception):
    """A problem the user can fix: bad input, missing binary, unreachable server.

    ``path`` and ``line`` (1-based) name where the problem is, when known.
    """

    def __init__(self, message: str, *, path: str | None = None, line: int | None = None, hint: str | None = None):
        super().__init__(message)
        self.message = message
        self.path = path
        self.line = line
        self.hint = hint

    def paragraph(self) -> str:
        where = ""
        if self.path:
            where = f"{self.path}:{self.line}: " if self.line else f"{self.path}: "
        text = f"{where}{self.message}"
        if self.hint:
            text += f" {self.hint}"
        return text


class ShadowUnavailable(GuardError):
    """No shadow PostgreSQL could be obtained from any provider."""
