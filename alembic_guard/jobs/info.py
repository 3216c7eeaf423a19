"""The commands that run nothing on a shadow: ``stats``, ``explain``, ``rules``."""

from __future__ import annotations

import sys

import click

from ..errors import GuardError, did_you_mean
from ..exit_policy import OK

# ids that name findings the judge makes itself, not a rule class
BUILT_IN = {"revision-fails": "the revision fails on the shadow PostgreSQL (the finding carries "
                              "PostgreSQL's message); it is always an error.",
            "suppression-without-reason": "an inline `# alembic-guard: ignore[rule]` comment gives no "
                                          "reason; write why the statement is safe after the bracket."}


def stats_job(url: str) -> int:
    """Print production table sizes as JSON (read-only connection, catalog statistics only)."""
    from ..stats import dump_stats, read_stats_url

    click.echo(dump_stats(read_stats_url(url)), nl=False)
    return OK


def explain_job(rule_id: str) -> int:
    """Print a rule's page."""
    from ..check_config import rule_ids
    from ..rules import all_rules
    from ..rules.docs import rule_page
    from ..terminal import color_enabled, render_page, terminal_width

    rules = {r.id: r for r in all_rules()}
    if rule_id not in rules:
        if rule_id in BUILT_IN:
            click.echo(f"{rule_id}: {BUILT_IN[rule_id]}")
            return OK
        raise GuardError(f"no rule {rule_id!r}{did_you_mean(rule_id, rule_ids())}.",
                         hint="`alembic-guard rules` lists every rule id.")
    color = color_enabled(sys.stdout)
    click.echo(render_page(rule_page(rules[rule_id]), color=color, width=terminal_width()), nl=False, color=color)
    return OK


def rules_job() -> int:
    """One line per rule: id, default severity, title."""
    from ..rules import all_rules

    for rule in all_rules():
        click.echo(f"{rule.id:40} {rule.severity:8} {rule.title}")
    return OK
