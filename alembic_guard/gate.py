"""Whether a revision fails the check: the rule ``alembic-guard check``'s exit status follows,
for the integrations that answer per revision (pre-commit hook, pytest plugin)."""

from __future__ import annotations

from .model import Report, RevisionTrace

SEVERITY_RANK = {"info": 0, "warning": 1, "error": 2}


def revision_fails(report: Report, rev: RevisionTrace) -> bool:
    """True when ``rev`` alone would make ``check`` exit 1: an unsuppressed finding at or above
    ``report.fail_on``, verdict ``error``, or verdict ``unknown`` with ``fail_on_unknown``.
    ``fail_on = "never"`` fails nothing."""
    if report.fail_on == "never":
        return False
    threshold = SEVERITY_RANK.get(report.fail_on, 2)
    if any(SEVERITY_RANK.get(f.severity, 0) >= threshold for f in rev.findings if not f.suppressed):
        return True
    return rev.verdict == "error" or (report.fail_on_unknown and rev.verdict == "unknown")


def failure_text(rev: RevisionTrace) -> str:
    """The revision's verdict, error and unsuppressed findings (rule, line, message, fix) as plain text."""
    title = rev.doc.splitlines()[0] if rev.doc else ""
    lines = [f"{rev.verdict.upper()} {rev.revision} {title}".rstrip(), f"  {rev.path}"]
    if rev.error or rev.skipped:
        where = f" (line {rev.error_line})" if rev.error_line else ""
        lines.append(f"  error{where}: {rev.error or rev.skipped}")
    for f in rev.findings:
        if f.suppressed:
            continue
        where = f" line {f.line}" if f.line else ""
        lines.append(f"  {f.severity} {f.rule}{where}: {f.message}")
        if f.fix:
            lines.append("    safe alternative:")
            lines.extend("      " + ln for ln in f.fix.splitlines())
        if f.docs:
            lines.append(f"    docs: {f.docs}")
    for reason in rev.unseen:
        lines.append(f"  not seen: {reason}")
    return "\n".join(lines)
