"""Small helpers shared by the human-readable reporters."""

from __future__ import annotations

import os

from ..model import Finding, Report, RevisionTrace

VERDICT_MARK = {"safe": "SAFE", "unsafe": "UNSAFE", "error": "ERROR"}


def relpath(path: str | None, base: str | None = None) -> str:
    if not path:
        return "?"
    try:
        rel = os.path.relpath(path, base or os.getcwd())
    except ValueError:
        return path
    return path if rel.startswith("../..") else rel


def active(findings: list[Finding]) -> list[Finding]:
    return [f for f in findings if not f.suppressed]


def summary_line(report: Report) -> str:
    counts = {"safe": 0, "unsafe": 0, "error": 0}
    for r in report.revisions:
        counts[r.verdict] += 1
    return (f"{len(report.revisions)} revisions: {counts['unsafe']} unsafe, {counts['error']} error, "
            f"{counts['safe']} safe")


def shadow_line(report: Report) -> str:
    return f"shadow: {report.shadow_provider}, PostgreSQL {report.server_version}"


def lock_summary(rev: RevisionTrace) -> list[str]:
    """Write-blocking locks on pre-existing tables, with how long (ms) and over how many statements."""
    return [f"{lk['mode']} on {lk['relation']} from line {lk['line']}, held {lk['held_ms']:.1f} ms "
            f"over {lk['held_statements']} statement(s)" for lk in rev.locks_held()]
