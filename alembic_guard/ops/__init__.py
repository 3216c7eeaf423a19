"""Safe operations for ``alembic upgrade`` on PostgreSQL, registered on Alembic's ``Operations``.

Importing this package (``import alembic_guard.ops`` in env.py) registers every operation, so a
revision can call ``op.create_index_concurrently(...)``, ``op.backfill(...)`` and the rest. See
docs/operations.md for what each one locks and the settings in ``[tool.alembic-guard]``.
"""

from __future__ import annotations

from ._base import GuardOp
from ._retry import LockRetryExhausted
from .add_check_constraint_safely import AddCheckConstraintSafelyOp
from .add_foreign_key_safely import AddForeignKeySafelyOp
from .add_primary_key_using_index import AddPrimaryKeyUsingIndexOp
from .add_unique_constraint_using_index import AddUniqueConstraintUsingIndexOp
from .backfill import BackfillBatch, BackfillOp, BackfillResult
from .create_index_concurrently import CreateIndexConcurrentlyOp
from .drop_index_concurrently import DropIndexConcurrentlyOp
from .run_with_lock_timeout import RunWithLockTimeoutOp
from .set_not_null_safely import SetNotNullSafelyOp
from .validate_constraint import ValidateConstraintOp

#: the ``op.<name>`` operations this package registers
OPERATIONS = (
    "run_with_lock_timeout",
    "create_index_concurrently",
    "drop_index_concurrently",
    "add_check_constraint_safely",
    "add_foreign_key_safely",
    "validate_constraint",
    "set_not_null_safely",
    "add_unique_constraint_using_index",
    "add_primary_key_using_index",
    "backfill",
)

__all__ = [
    "OPERATIONS", "AddCheckConstraintSafelyOp", "AddForeignKeySafelyOp", "AddPrimaryKeyUsingIndexOp",
    "AddUniqueConstraintUsingIndexOp", "BackfillBatch", "BackfillOp", "BackfillResult", "CreateIndexConcurrentlyOp",
    "DropIndexConcurrentlyOp", "GuardOp", "LockRetryExhausted", "RunWithLockTimeoutOp", "SetNotNullSafelyOp",
    "ValidateConstraintOp",
]
