"""Markdown report, fit for a pull-request comment."""

from __future__ import annotations

from ..model import Report
from .common import active, coverage_line, lock_summary, relpath, revision_coverage, shadow_line, summary_line

ICON = {"safe": "✅", "unsafe": "❌", "unknown": "❔", "error": "⚠️"}


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def render_markdown(report: Report) -> str:
    lines = [f"## alembic-guard: {summary_line(report)}", "",
             f"<sub>alembic-guard {report.tool_version} · {shadow_line(report)} · {coverage_line(report)}</sub>", "",
             "| | Revision | Message | Findings |", "|---|---|---|---|"]
    for rev in report.revisions:
        msg = rev.doc.splitlines()[0] if rev.doc else ""
        lines.append(f"| {ICON[rev.verdict]} | `{rev.revision}` | {_cell(msg)} | {len(active(rev.findings))} |")
    for rev in report.revisions:
        found = active(rev.findings)
        cov_lines = revision_coverage(rev)
        if not found and not rev.skipped and len(cov_lines) == 1:
            continue
        lines += ["", f"### {ICON[rev.verdict]} `{rev.revision}` {_cell(rev.doc.splitlines()[0] if rev.doc else '')}",
                  "", f"`{relpath(rev.path)}`", ""]
        if rev.skipped:
            lines += [f"> {rev.skipped}", ""]
        lines += [f"<sub>coverage: {cov_lines[0]}</sub>", ""] + [f"- {_cell(t)}" for t in cov_lines[1:]]
        if len(cov_lines) > 1:
            lines.append("")
        for f in found:
            where = f"line {f.line}" if f.line else ""
            lines.append(f"- **{f.severity}** `{f.rule}` {where}: {f.message}"
                         + (f" ([PostgreSQL docs]({f.docs}))" if f.docs else ""))
            if f.fix:
                lines += ["", "  <details><summary>Safe alternative</summary>", "", "  ```python"]
                lines += ["  " + ln for ln in f.fix.splitlines()]
                lines += ["  ```", "", "  </details>", ""]
        locks = lock_summary(rev)
        if locks:
            lines += ["", "<sub>Locks seen on the shadow: " + "; ".join(locks) + "</sub>"]
    for note in report.notes:
        lines += ["", f"> **note:** {note}"]
    for err in report.tool_errors:
        lines += ["", f"> **tool error:** {err}"]
    lines.append("")
    return "\n".join(lines)
