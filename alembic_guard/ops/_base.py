"""Registration glue: every safe operation is an Alembic ``MigrateOperation`` registered on
``Operations`` (so a revision calls ``op.<name>(...)``), with an implementation and an autogenerate
renderer (so a rewritten autogenerate revision contains the same readable call)."""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any, ClassVar, TypeVar

from alembic.autogenerate import renderers
from alembic.operations import MigrateOperation, Operations

from ._log import LOGGER_NAME
from ._options import split_options
from ._runner import Runner
from ._sql import render_value

OpT = TypeVar("OpT", bound="GuardOp")


class GuardOp(MigrateOperation):
    """An alembic_guard operation: the positional and keyword arguments of the ``op.<name>`` call.

    ``impl`` is the plain function ``impl(runner, *args, **kwargs)`` that does the work; composite
    operations call each other's ``impl`` with the same Runner.
    """

    op_name: ClassVar[str]
    impl: ClassVar[Callable[..., Any]]

    def __init__(self, *args: Any, **kwargs: Any):
        self.args = args
        self.kwargs = {k: v for k, v in kwargs.items() if v is not None}

    def to_source(self) -> str:
        """The ``op.<name>(...)`` call as Python source."""
        parts = [render_value(a) for a in self.args]
        parts += [f"{k}={render_value(v)}" for k, v in self.kwargs.items()]
        return f"op.{self.op_name}({', '.join(parts)})"

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.to_source()}>"


def register(op_name: str, impl: Callable[..., Any]) -> Callable[[type[OpT]], type[OpT]]:
    """Class decorator: register ``cls.<op_name>`` as ``op.<op_name>``, ``impl`` as its
    implementation (run through a Runner), and the autogenerate renderer."""

    def decorate(cls: type[OpT]) -> type[OpT]:
        cls.op_name = op_name
        cls.impl = staticmethod(impl)  # type: ignore[assignment]
        Operations.register_operation(op_name)(cls)

        @Operations.implementation_for(cls)
        def _implementation(operations: Operations, operation: GuardOp) -> Any:
            # env.py's fileConfig() disables every logger that exists when it runs (its
            # disable_existing_loggers default), ours included when env.py imported alembic_guard
            # first: the retries and backfill progress an operator needs would vanish.
            logging.getLogger(LOGGER_NAME).disabled = False
            own, overrides = split_options(operation.kwargs)
            with Runner(operations, overrides) as runner:
                return impl(runner, *operation.args, **own)

        @renderers.dispatch_for(cls)
        def _render(autogen_context: Any, operation: GuardOp) -> str:
            prefix = (getattr(autogen_context, "opts", None) or {}).get("alembic_module_prefix") or "op."
            return prefix + operation.to_source()[len("op."):]

        return cls

    return decorate
