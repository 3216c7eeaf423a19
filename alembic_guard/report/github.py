"""GitHub Actions workflow commands: one annotation per active finding on the revision file and the
line of its statement, then a notice with the summary and the coverage line.

    ::error file=migrations/versions/0002_x.py,line=24,title=add-index-without-concurrently::…

``error`` findings are ``::error``, ``warning`` ``::warning``, ``info`` ``::notice``. A revision whose
verdict is ``unknown`` (a statement the trace did not see) gets a ``::warning`` titled ``not-seen``, and
one not run (it depends on a failed revision) an ``::error`` titled ``revision-not-run``: both fail
the check, so both are shown. Escaping follows the runner's rules (actions/toolkit ``command.ts``):
data ``%`` → ``%25``, CR → ``%0D``, LF → ``%0A``; property values also ``:`` → ``%3A``, ``,`` → ``%2C``.
"""

from __future__ import annotations

from ..model import Report
from .common import active, coverage_line, repo_path, summary_line

COMMAND = {"error": "error", "warning": "warning", "info": "notice"}


def escape_data(text: str) -> str:
    return text.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")


def escape_property(text: str) -> str:
    return escape_data(text).replace(":", "%3A").replace(",", "%2C")


def annotation(command: str, message: str, **props: object) -> str:
    """``::command key=value,…::message`` with both parts escaped; ``None`` properties left out."""
    parts = ",".join(f"{k}={escape_property(str(v))}" for k, v in props.items() if v is not None)
    return f"::{command}{' ' + parts if parts else ''}::{escape_data(message)}"


def render_github(report: Report) -> str:
    lines = []
    for rev in report.revisions:
        path = repo_path(rev.path)
        for f in active(rev.findings):
            text = f"{f.message} (revision {rev.revision})"
            if f.fix:
                text += "\n\nSafe alternative:\n" + f.fix
            if f.docs:
                text += f"\n\nPostgreSQL docs: {f.docs}"
            lines.append(annotation(COMMAND.get(f.severity, "warning"), text,
                                    file=repo_path(f.path or rev.path), line=f.line, title=f.rule))
        if rev.skipped and not active(rev.findings):
            lines.append(annotation("error", f"revision {rev.revision} {rev.skipped}", file=path,
                                    title="revision-not-run"))
        if rev.verdict == "unknown":
            reasons = "\n".join(f"- {r}" for r in rev.unseen)
            lines.append(annotation("warning", f"revision {rev.revision}: verdict unknown, the trace did not see "
                                    f"every statement:\n{reasons}", file=path, title="not-seen"))
    for err in report.tool_errors:
        lines.append(annotation("error", err, title="alembic-guard tool error"))
    lines.append(annotation("notice", f"{summary_line(report)} · {coverage_line(report)}", title="alembic-guard"))
    return "\n".join(lines) + "\n"
