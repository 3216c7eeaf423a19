"""Recipes: one module per unsafe operation kind, holding its one safe form (see recipes/base.py).

``recipe(id)``, ``for_rule(rule_id)``, ``for_op(op_name)`` and ``for_node(pglast_node)`` find them;
every module of this package that defines a Recipe subclass is loaded (no list to keep in sync).
"""

from __future__ import annotations

import importlib
import pkgutil
from functools import cache
from typing import Any

from .base import Example, Hint, Recipe, Refusal

__all__ = ["Example", "Hint", "Recipe", "Refusal", "all_recipes", "for_node", "for_op", "for_rule", "recipe"]


@cache
def all_recipes() -> tuple[Recipe, ...]:
    """One instance of every recipe, in module name order. Raises ValueError on a duplicate id."""
    found: dict[str, Recipe] = {}
    for info in sorted(pkgutil.iter_modules(__path__), key=lambda i: i.name):
        if info.name.startswith("_") or info.name in ("base", "docs"):
            continue
        module = importlib.import_module(f"{__name__}.{info.name}")
        for value in vars(module).values():
            if isinstance(value, type) and issubclass(value, Recipe) and value is not Recipe \
                    and value.__module__ == module.__name__ and value.id:
                if value.id in found:
                    raise ValueError(f"duplicate recipe id {value.id}")
                found[value.id] = value()
    return tuple(found.values())


def recipe(recipe_id: str) -> Recipe:
    """The recipe with this id. Raises KeyError."""
    for r in all_recipes():
        if r.id == recipe_id:
            return r
    raise KeyError(recipe_id)


def for_rule(rule_id: str) -> list[Recipe]:
    """The recipes that answer a rule (usually one)."""
    return [r for r in all_recipes() if rule_id in r.rules]


def for_op(op_name: str) -> list[Recipe]:
    """The recipes that rewrite ``op.<op_name>(...)``, in order of precedence."""
    return [r for r in all_recipes() if op_name in r.ops]


def for_node(node: Any) -> list[Recipe]:
    """The recipes that rewrite a statement of this pglast node's type."""
    return [r for r in all_recipes() if isinstance(node, r.nodes)]
