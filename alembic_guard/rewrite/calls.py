"""Rewrite one Alembic operation call (``op.<name>(...)``) into its safe form: the public entry point.

Shared by ``alembic-guard fix`` and the autogenerate hook. The pieces live in their own modules and
are re-exported here: reading a call (``opcall``), what is known about the database (``facts``), the
result (``outcome``), and one step per operation (``steps/<operation>.py``, dispatched by
``steps.registry.rewrite_call``). The result is Python source using the operations of
:mod:`alembic_guard.ops`, or a refusal with an expand/contract plan.
"""

from __future__ import annotations

from .facts import Facts, calls_volatile
from .opcall import NOLIT, Arg, Call, call_from_cst, call_from_source
from .outcome import OPS_IMPORT, Outcome
from .steps._common import MAX_LINE, op_call, pystr
from .steps.registry import rewrite_call

__all__ = ["MAX_LINE", "NOLIT", "OPS_IMPORT", "Arg", "Call", "Facts", "Outcome", "call_from_cst",
           "call_from_source", "calls_volatile", "op_call", "pystr", "rewrite_call"]
