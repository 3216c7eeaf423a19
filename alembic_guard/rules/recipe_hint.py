"""The bridge from a rule to its recipe: the hint a finding prints and the examples its docs show
both come from the recipe that answers the rule (alembic_guard/recipes), never from the rule."""

from __future__ import annotations

from .base import Context


def hint_for(rule_id: str, ctx: Context, recipe_id: str | None = None) -> str | None:
    """The fix text for a finding of ``rule_id`` on the statement of ``ctx``: the hint of the recipe
    that answers the rule (or ``recipe_id``), written with the catalog's names; None when the
    statement did not parse or no recipe has a hint for it."""
    from ..recipes import for_rule, recipe

    if ctx.node is None:
        return None
    for r in [recipe(recipe_id)] if recipe_id else for_rule(rule_id):
        hint = r.hint(ctx.node, ctx.facts())
        if hint is not None:
            return hint.text()
    return None


def example(recipe_id: str, index: int = 0) -> tuple[str, str]:
    """``(bad, good)`` of a recipe's example, for a rule's docs page."""
    from ..recipes import recipe

    ex = recipe(recipe_id).examples[index]
    return ex.bad, ex.good
