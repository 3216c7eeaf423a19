"""What a recipe is: one unsafe operation kind and its one safe form.

A recipe is one file under ``alembic_guard/recipes/``. It holds, for one kind of operation (create
index, add foreign key, rename column …):

- ``rules``: the ids of the rules whose fix it writes (``check``'s hint comes from ``hint``);
- ``ops``: the ``op.<name>`` calls ``rewrite_op`` rewrites (``fix`` and the autogenerate hook);
- ``nodes``: the pglast statement node types ``rewrite_sql`` rewrites (raw SQL in ``op.execute``):
  the tree is changed and deparsed, so every expression, WHERE, INCLUDE, opclass, collation and
  option of the original survives;
- ``plan``: the expand/contract plan when one revision cannot make it safe (a ``Refusal`` carries it);
- ``examples``: runnable bad/good pairs; ``tests/recipes`` runs each on a real server (the rule fires on
  ``bad``, not on ``good``; the hint compiles; ``fix`` proves the rewrite of ``bad`` or refuses it
  with a plan), and ``docs/recipes/<id>.md`` is generated from the same class.

Names and types come from the shadow's catalog (``Facts.tables``: ``model.TableFacts`` read when the
revision started), so a hint says ``bigint``, not ``<type>``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, ClassVar

from ..rewrite.outcome import Outcome
from ..rewrite.plans import PlanStep, render_plan

if TYPE_CHECKING:
    from ..rewrite.facts import Facts
    from ..rewrite.opcall import Call
    from ..rewrite.sqlrewrite import SqlRewrite


@dataclass(frozen=True)
class Example:
    """A runnable example. ``setup``: the ``upgrade()`` body of the revision that builds the schema
    (its tables are seeded by the proof); ``bad``: a body the recipe's rules report; ``good``: the safe
    form; ``fixed``: what ``fix`` does with ``bad`` — ``"rewrite"`` (a proven rewrite) or ``"plan"``
    (a refusal with an expand/contract plan); ``rule``: the rule that must fire on ``bad`` (default:
    the recipe's first rule)."""

    setup: str
    bad: str
    good: str
    fixed: str = "rewrite"
    rule: str | None = None
    title: str = ""


class Refusal(Exception):
    """The operation is recognised but one revision cannot make it safe: ``reason`` says why and
    ``plan`` (expand/contract steps with the user's names) says what to do instead."""

    def __init__(self, reason: str, plan: list[PlanStep] | None = None):
        super().__init__(reason)
        self.reason = reason
        self.plan = list(plan or ())


@dataclass
class Hint:
    """What ``check`` prints as a finding's fix: Alembic code, or a plan when it must refuse."""

    code: str | None = None
    refused: str | None = None
    plan: list[PlanStep] = field(default_factory=list)

    def text(self) -> str:
        if self.code:
            return self.code
        head = f"# {self.refused}" if self.refused else ""
        return "\n".join(p for p in (head, render_plan(self.plan, comment=True)) if p)


class Recipe:
    """Base class; subclasses set the class attributes and implement what applies to them."""

    id: ClassVar[str] = ""
    title: ClassVar[str] = ""
    rules: ClassVar[tuple[str, ...]] = ()
    ops: ClassVar[tuple[str, ...]] = ()
    nodes: ClassVar[tuple[type, ...]] = ()
    # Why the safe form is safe, with the PostgreSQL docs page it rests on (the generated docs).
    rationale: ClassVar[str] = ""
    docs: ClassVar[str] = ""
    examples: ClassVar[tuple[Example, ...]] = ()
    # ``rewrite_op`` has the last word on its ``ops``: no lock_timeout fallback when it returns None
    final: ClassVar[bool] = False

    def rewrite_op(self, call: Call, facts: Facts) -> Outcome | None:
        """The safe form of an ``op.<name>(...)`` call (one of ``ops``): an Outcome with code, or a
        refusal (``Outcome.refused`` + ``plan``); None when the call needs no change."""
        return None

    def rewrite_sql(self, node: Any, facts: Facts) -> SqlRewrite | None:
        """The online form of one SQL statement (a fresh pglast node of one of ``nodes``, which this
        may change), or None when it is already online or not this recipe's. Raises Refusal."""
        return None

    def hint(self, node: Any, facts: Facts) -> Hint | None:
        """The safe form ``check`` prints for a statement (its pglast node), by default the raw-SQL
        rewrite rendered as Alembic code, exactly what ``fix`` writes for ``op.execute`` of it (with
        the import that registers alembic_guard.ops when a step validates through
        ``op.validate_constraint``)."""
        import copy

        from ..rewrite.outcome import OPS_IMPORT
        from ..rewrite.sqlrewrite import render_steps

        try:
            rw = self.rewrite_sql(copy.deepcopy(node), facts)
        except Refusal as exc:
            return Hint(refused=exc.reason, plan=exc.plan)
        if rw is None:
            return None
        code = render_steps(rw.steps)
        return Hint(code=OPS_IMPORT + "\n" + code if any(st.validate for st in rw.steps) else code)
