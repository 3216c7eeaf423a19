"""Small helpers shared by the human-readable reporters."""

from __future__ import annotations

import os

from ..model import Finding, Report, RevisionTrace

VERDICT_MARK = {"safe": "SAFE", "unsafe": "UNSAFE", "unknown": "UNKNOWN", "error": "ERROR"}


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
    counts = {"safe": 0, "unsafe": 0, "unknown": 0, "error": 0}
    for r in report.revisions:
        counts[r.verdict] += 1
    unknown = f", {counts['unknown']} unknown" if counts["unknown"] else ""
    return (f"{len(report.revisions)} revisions: {counts['unsafe']} unsafe{unknown}, {counts['error']} error, "
            f"{counts['safe']} safe")


def coverage_text(cov: dict) -> str:
    """``12 statements traced: 11 parsed, 1 judged by trace only, 0 not seen`` (RevisionTrace.coverage)."""
    return (f"{cov['traced']} statement(s) traced: {cov['parsed']} parsed, {cov['trace_only']} judged by trace "
            f"only, {cov['not_seen']} not seen")


def coverage_line(report: Report) -> str:
    """The whole run's coverage and the transaction mode env.py ran in."""
    mode = f" · transaction mode: {report.transaction_mode}" if report.transaction_mode else ""
    return "coverage: " + coverage_text(report.coverage()) + mode


def revision_coverage(rev: RevisionTrace) -> list[str]:
    """The revision's coverage line, then one line per statement judged by trace only or not seen."""
    cov = rev.coverage()
    out = [coverage_text(cov)]
    for st in rev.statements:
        if st.coverage == "trace-only":
            out.append(f"line {st.line}: judged by trace only ({st.coverage_reason})")
    out += [f"not seen: {reason}" for reason in rev.unseen]
    return out


def shadow_line(report: Report) -> str:
    return f"shadow: {report.shadow_provider}, PostgreSQL {report.server_version}"


def lock_summary(rev: RevisionTrace) -> list[str]:
    """Write-blocking locks on pre-existing tables, with how long (ms) and over how many statements."""
    return [f"{lk['mode']} on {lk['relation']} from line {lk['line']}, held {lk['held_ms']:.1f} ms "
            f"over {lk['held_statements']} statement(s)" for lk in rev.locks_held()]


SEVERITY_RANK = {"error": 2, "warning": 1, "info": 0}
VERDICT_RANK = {"error": 3, "unsafe": 2, "unknown": 1, "safe": 0}


def repo_path(path: str | None, base: str | None = None) -> str:
    """``path`` relative to the repository, with forward slashes and no ``./`` prefix, as GitHub
    annotations and GitLab Code Quality want it: relative to ``base`` (the working directory, the
    checkout in CI) when it is below it, else to the nearest directory above it holding ``.git``."""
    if not path:
        return "?"
    base = os.path.abspath(base or os.getcwd())
    full = os.path.abspath(path)
    if os.path.commonpath([full, base]) != base:
        parent = os.path.dirname(full)
        while parent != os.path.dirname(parent) and not os.path.exists(os.path.join(parent, ".git")):
            parent = os.path.dirname(parent)
        if os.path.exists(os.path.join(parent, ".git")):
            base = parent
    rel = os.path.relpath(full, base) if os.path.commonpath([full, base]) == base else full.lstrip("/")
    rel = rel.replace(os.sep, "/")
    while rel.startswith("./"):
        rel = rel[2:]
    return rel


def worst_finding(report: Report) -> tuple[RevisionTrace, Finding] | None:
    """The active finding a reviewer should look at first: highest severity, then the biggest table
    (production size when statistics were given), then the earliest in the history."""
    best: tuple[tuple, RevisionTrace, Finding] | None = None
    for pos, rev in enumerate(report.revisions):
        for f in active(rev.findings):
            key = (SEVERITY_RANK.get(f.severity, 0), f.table_bytes or 0, f.table_rows or 0, -pos)
            if best is None or key > best[0]:
                best = (key, rev, f)
    return (best[1], best[2]) if best else None


def finding_counts(report: Report) -> dict[str, int]:
    counts = {s: 0 for s in ("error", "warning", "info")}
    for f in active(report.findings()):
        counts[f.severity] = counts.get(f.severity, 0) + 1
    return counts


def statement_sql(rev: RevisionTrace, f: Finding) -> str:
    """The SQL of the statement a finding is about ("" when it is about no statement)."""
    if f.statement_index is not None:
        for st in rev.statements:
            if st.index == f.statement_index:
                return st.sql
    return ""


def check_command(report: Report) -> str:
    """The command that prints the whole report (text format) for this project."""
    cfg = relpath(report.config) if report.config else "alembic.ini"
    return "alembic-guard check" + ("" if cfg == "alembic.ini" else f" -c {cfg}")
