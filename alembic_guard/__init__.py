"""alembic_guard: migration safety analyzer for Alembic on PostgreSQL.

``import alembic_guard`` in env.py registers the safe operations (``op.backfill``,
``op.create_index_concurrently`` …, see docs/operations.md) and gives the autogenerate hook:
``context.configure(..., process_revision_directives=alembic_guard.process_revision_directives)``.
"""

__version__ = "0.1.0"

from . import ops  # noqa: E402,F401  (registers op.<name> operations with Alembic)
from .autogen import process_revision_directives  # noqa: E402

__all__ = ["__version__", "ops", "process_revision_directives"]
