"""Terminal report (rich): per revision its verdict, findings with the safe alternative, and the
dangerous locks the trace saw."""

from __future__ import annotations

import io

from rich.console import Console
from rich.markup import escape
from rich.padding import Padding
from rich.syntax import Syntax
from rich.text import Text

from ..model import Report
from .common import active, coverage_line, lock_summary, relpath, revision_coverage, shadow_line, summary_line

STYLE = {"safe": "green", "unsafe": "bold red", "unknown": "bold yellow", "error": "bold magenta"}
SEV_STYLE = {"error": "red", "warning": "yellow", "info": "cyan"}


def render_text(report: Report, *, color: bool = False, width: int | None = None,
                show_statements: bool = False) -> str:
    """The report; prose wraps to ``width`` (default 100), code and SQL never wrap: a fix block is
    paste-ready at any width (indented by 6 spaces)."""
    buf = io.StringIO()
    con = Console(file=buf, force_terminal=color, no_color=not color, width=width or 100, highlight=False,
                  soft_wrap=False)
    con.print(f"[bold]alembic-guard {report.tool_version}[/] · {escape(shadow_line(report))} · "
              f"{report.duration_ms / 1000:.1f} s")
    con.print(f"[dim]{escape(coverage_line(report))}[/]")
    for rev in report.revisions:
        verdict = rev.verdict
        title = escape(rev.doc.splitlines()[0] if rev.doc else "")
        con.print()
        con.print(f"[{STYLE[verdict]}]{verdict.upper():6}[/] [bold]{escape(rev.revision)}[/] {title}")
        con.print(f"  [dim]{escape(relpath(rev.path))}[/]")
        if rev.skipped:
            con.print(f"  [magenta]{escape(rev.skipped)}[/]")
        cov_lines = revision_coverage(rev)
        if len(cov_lines) > 1 or show_statements:
            con.print(f"  [dim]coverage: {escape(cov_lines[0])}[/]")
            for text in cov_lines[1:]:
                style = "yellow" if text.startswith("not seen") else "dim"
                con.print(f"  [{style}]{escape(text)}[/]")
        for f in active(rev.findings):
            loc = f":{f.line}" if f.line else ""
            con.print(Padding(Text.from_markup(
                f"[{SEV_STYLE.get(f.severity, '')}]{f.severity}[/] [bold]{f.rule}[/] "
                f"[dim]line{loc.replace(':', ' ') or ' ?'}[/]: {escape(f.message)}"), (0, 0, 0, 2), expand=False))
            if f.fix:
                # code is never wrapped: a paste-ready block stays paste-ready at any terminal width
                con.print("    safe alternative:")
                code = "\n".join("      " + ln for ln in f.fix.splitlines())
                if color:
                    con.print(Syntax(code, "python", theme="ansi_dark", background_color="default",
                                     word_wrap=False), soft_wrap=True)
                else:
                    con.print(Text(code), soft_wrap=True)
            if f.docs:
                con.print(f"    [dim]docs: {f.docs}[/]", soft_wrap=True)  # a URL stays one piece
        for f in rev.findings:
            if f.suppressed:
                con.print(f"  [dim]suppressed {f.rule} line {f.line}: {escape(f.suppressed)}[/]")
        locks = lock_summary(rev)
        if locks and (verdict != "safe" or show_statements):
            for text in locks:
                con.print(f"  [dim]lock: {escape(text)}[/]")
        if show_statements:
            for st in rev.statements:
                o = st.observation
                extra = []
                if o.rewritten:
                    extra.append("rewrote " + ", ".join(o.rewritten))
                if o.seq_scans:
                    extra.append("scanned " + ", ".join(o.seq_scans))
                if o.error:
                    extra.append("error: " + o.error)
                con.print(f"    [dim]line {st.line} {o.duration_ms:.1f} ms[/] {escape(st.sql.splitlines()[0][:80])}"
                          + (f" [dim]({escape('; '.join(extra))})[/]" if extra else ""), soft_wrap=True)
    for note in report.notes:
        con.print(f"[yellow]note:[/] {escape(note)}")
    for err in report.tool_errors:
        con.print(f"[magenta]tool error:[/] {escape(err)}")
    con.print()
    con.print(f"[bold]{summary_line(report)}[/] [dim]· {escape(coverage_line(report))}[/]")
    return "\n".join(line.rstrip() for line in buf.getvalue().split("\n"))
