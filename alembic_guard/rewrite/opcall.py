"""Read an Alembic operation call (``op.<name>(...)``): bind its arguments to the operation's parameters.

Shared by ``alembic-guard fix`` (the call comes from the revision file, through libcst) and the
autogenerate hook (the call is Alembic's own rendering of the operation). Arguments are kept as the
user wrote them (their source text); only what a rewrite needs is read as a Python literal.
"""

from __future__ import annotations

import ast as pyast
import inspect
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from alembic.operations import Operations

if TYPE_CHECKING:
    import libcst as cst

NOLIT = object()


@dataclass
class Arg:
    """One argument as written (``source``) and, when it is a Python literal, its ``value``."""

    source: str
    value: Any = NOLIT

    @property
    def literal(self) -> bool:
        return self.value is not NOLIT


@dataclass
class Call:
    """An ``op.<name>(...)`` call with its arguments bound to the operation's parameter names."""

    name: str
    args: dict[str, Arg] = field(default_factory=dict)
    kwargs: dict[str, Arg] = field(default_factory=dict)  # **kw (dialect options)
    source: str = ""

    def get(self, name: str, default: Any = None) -> Any:
        arg = self.args.get(name) or self.kwargs.get(name)
        if arg is None:
            return default
        return arg.value if arg.literal else default

    def src(self, name: str) -> str | None:
        arg = self.args.get(name) or self.kwargs.get(name)
        return arg.source if arg else None


def literal(source: str) -> Any:
    """The Python literal ``source`` stands for, or NOLIT."""
    try:
        return pyast.literal_eval(source)
    except (ValueError, SyntaxError, TypeError, MemoryError, RecursionError):
        return NOLIT


def call_from_cst(call: cst.Call, module: cst.Module | None = None) -> Call | None:
    """Bind a libcst ``op.<name>(...)`` call to the parameters of ``Operations.<name>``; None when
    it is not an ``op.<name>`` call of a known operation or uses ``*args``/``**kwargs``."""
    import libcst as cst  # here, not at the top: the rules import this module, and only fix parses code

    func = call.func
    if not (isinstance(func, cst.Attribute) and isinstance(func.value, cst.Name) and func.value.value == "op"):
        return None
    name = func.attr.value
    method = getattr(Operations, name, None)
    if method is None or not callable(method):
        return None
    code = (module or cst.Module(body=[])).code_for_node
    try:
        params = list(inspect.signature(method).parameters.values())[1:]
    except (TypeError, ValueError):
        return None
    positional = [p.name for p in params if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)]
    named = {p.name for p in params if p.kind != p.VAR_KEYWORD}
    out = Call(name=name, source=code(call))
    pos = 0
    for arg in call.args:
        if arg.star:
            return None
        src = code(arg.value)
        value = Arg(src, literal(src))
        if arg.keyword is None:
            if pos >= len(positional):
                return None
            out.args[positional[pos]] = value
            pos += 1
        elif arg.keyword.value in named:
            out.args[arg.keyword.value] = value
        else:
            out.kwargs[arg.keyword.value] = value
    return out


def call_from_source(source: str) -> Call | None:
    """Like call_from_cst, for the source text of one call expression."""
    import libcst as cst

    try:
        node = cst.parse_expression(source)
    except cst.ParserSyntaxError:
        return None
    return call_from_cst(node) if isinstance(node, cst.Call) else None
