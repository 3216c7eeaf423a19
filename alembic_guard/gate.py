"""Why a revision fails the check, as plain text, for the integrations that answer per revision
(pre-commit hook, pytest plugin); whether it fails is exit_policy.revision_fails."""

from __future__ import annotations

from .model import RevisionTrace


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
