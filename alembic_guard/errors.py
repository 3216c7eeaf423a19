"""Errors alembic_guard raises for bad input or an unusable environment.

Every such error becomes one readable paragraph and exit status 2 in the CLI.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable


class GuardError(Exception):
    """A problem the user can fix: bad input, missing binary, unreachable server.

    ``path``, ``line`` and ``column`` (1-based) name where the problem is, when known.
    """

    def __init__(self, message: str, *, path: str | None = None, line: int | None = None, hint: str | None = None,
                 column: int | None = None):
        super().__init__(message)
        self.message = message
        self.path = path
        self.line = line
        self.column = column
        self.hint = hint

    def paragraph(self) -> str:
        where = ""
        if self.path:
            where = f"{self.path}: "
            if self.line:
                where = f"{self.path}:{self.line}:{self.column}: " if self.column else f"{self.path}:{self.line}: "
        text = f"{where}{self.message}"
        if self.hint:
            text += f" {self.hint}"
        return text


class ShadowUnavailable(GuardError):
    """No shadow PostgreSQL could be obtained from any provider."""


def closest(word: str, choices: Iterable[str]) -> str | None:
    """The closest of ``choices`` to ``word`` (difflib), or None."""
    close = difflib.get_close_matches(word, list(choices), n=1, cutoff=0.6)
    return close[0] if close else None


def did_you_mean(word: str, choices: Iterable[str]) -> str:
    """`` (did you mean 'x'?)`` for the closest of ``choices``, or an empty string."""
    close = closest(word, choices)
    return f" (did you mean {close!r}?)" if close else ""
