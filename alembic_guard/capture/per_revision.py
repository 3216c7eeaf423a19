"""Trace every revision in a transaction of its own, whatever env.py asks for.

A revision is judged as it will run deployed alone (one release at a time), so its locks must be
its own. In Alembic's default mode (``transaction_per_migration=False``) a run from base puts every
revision in one transaction, where ``pg_locks`` cannot tell a lock a later revision asks for again
from one an earlier revision still holds: a validating scan under an ACCESS EXCLUSIVE re-taken by
revision 5 would look like revision 1's. So while ``check`` runs, ``EnvironmentContext.configure``
is called with ``transaction_per_migration=True``; the value env.py asked for is kept for the
report's transaction mode (trace/modes.py). An env.py that opened the transaction itself is left as
it is (Alembic commits nothing then, in production too).
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

from ..alembic_api import forced_transaction_per_migration

_requested: list[bool] = []  # transaction_per_migration as env.py passed it, last configure() first
_notes: list[str] = []  # what was adjusted besides (an online as_sql=True), for the report


def adjustments() -> list[str]:
    """Notes on what else the running patch changed in env.py's configure() (alembic_api)."""
    return list(_notes)


def _note(text: str) -> None:
    if text not in _notes:
        _notes.append(text)


def requested_per_migration() -> bool | None:
    """What the running env.py asked for, or None outside a patched run."""
    return _requested[-1] if _requested else None


@contextlib.contextmanager
def transaction_per_revision() -> Iterator[None]:
    try:
        with forced_transaction_per_migration(_requested.append, _note):
            yield
    finally:
        _requested.clear()
        _notes.clear()
