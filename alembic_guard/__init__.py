"""alembic_guard: migration safety analyzer for Alembic on PostgreSQL.

``import alembic_guard`` in env.py registers the safe operations (``op.backfill``,
``op.create_index_concurrently`` …, see docs/operations.md) and gives the autogenerate hook:
``context.configure(..., process_revision_directives=alembic_guard.process_revision_directives)``.
"""

from typing import Any

__version__ = "0.1.0"

from . import ops  # noqa: E402,F401  (registers op.<name> operations with Alembic)

__all__ = ["__version__", "ops", "process_revision_directives"]


def __getattr__(name: str) -> Any:
    # The autogenerate hook pulls in the rewriter (libcst & co.): import it only when asked for.
    if name == "process_revision_directives":
        from .autogen import process_revision_directives

        return process_revision_directives
    raise AttributeError(f"module 'alembic_guard' has no attribute {name!r}")
