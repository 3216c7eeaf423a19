"""Rules: one module per rule; see base.Rule."""

from .base import Context, Rule, all_rules, register

__all__ = ["Context", "Rule", "all_rules", "register"]
