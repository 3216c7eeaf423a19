"""The result of rewriting one op call (``Outcome``): safe Python code, or a refusal with a plan."""

from __future__ import annotations

from dataclasses import dataclass, field

from . import plans

OPS_IMPORT = "import alembic_guard.ops  # noqa: F401  (registers op.create_index_concurrently & co.)"


@dataclass
class Outcome:
    """The safe form of one call (``code``, Python statements) or a refusal (``refused`` + ``plan``)."""

    kind: str
    what: str
    code: str | None = None
    refused: str | None = None
    plan: list[plans.PlanStep] = field(default_factory=list)

    @property
    def uses_ops(self) -> bool:
        return bool(self.code) and any(f"op.{n}(" in self.code for n in OPS_NAMES)


#: the operations of alembic_guard.ops a rewrite may call (their use needs OPS_IMPORT)
OPS_NAMES = ("run_with_lock_timeout", "create_index_concurrently", "drop_index_concurrently",
             "add_check_constraint_safely", "add_foreign_key_safely", "validate_constraint", "set_not_null_safely",
             "add_unique_constraint_using_index", "add_primary_key_using_index", "backfill")
