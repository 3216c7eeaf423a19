"""Terminal report: per revision its verdict, findings with the safe alternative, and the dangerous
locks the trace saw.

The report is first laid out as lines (``_lines``: styled spans, and whether and how a line wraps),
then written by one of two backends with the same layout: rich for a colored terminal (markup,
python syntax in fix blocks), or ``_plain`` (textwrap) for everything else: a file, a pipe, CI. Rich
lays out each line through its whole renderable pipeline (about 0.5 ms a line: 2.5 s for a 300-revision
history with findings in every revision); the plain writer does the same wrapping in a few ms.
"""

from __future__ import annotations

import io
import textwrap
from dataclasses import dataclass

from ..model import Report, RevisionTrace
from .common import active, coverage_line, lock_summary, relpath, revision_coverage, shadow_line, summary_line

STYLE = {"safe": "green", "unsafe": "bold red", "unknown": "bold yellow", "error": "bold magenta"}
SEV_STYLE = {"error": "red", "warning": "yellow", "info": "cyan"}


@dataclass
class _Line:
    """One printed line: ``spans`` of ``(text, rich style)``; ``wrap``: prose, wrapped to the width
    (continuation lines flush left, or at ``indent`` columns for an indented paragraph); else never
    wrapped (code, URLs, SQL). ``code``: a fix block, python-highlighted in color."""

    spans: tuple[tuple[str, str], ...]
    wrap: bool = True
    indent: int = 0
    code: bool = False

    @property
    def text(self) -> str:
        return "".join(t for t, _ in self.spans)


def _line(*spans: tuple[str, str] | str, wrap: bool = True, indent: int = 0, code: bool = False) -> _Line:
    return _Line(tuple((s, "") if isinstance(s, str) else s for s in spans), wrap=wrap, indent=indent, code=code)


def render_text(report: Report, *, color: bool = False, width: int | None = None,
                show_statements: bool = False) -> str:
    """The report; prose wraps to ``width`` (default 100), code and SQL never wrap: a fix block is
    paste-ready at any width (indented by 6 spaces)."""
    lines = _lines(report, show_statements)
    out = _rich(lines, color=color, width=width or 100) if color else _plain(lines, width or 100)
    return "\n".join(line.rstrip() for line in out.split("\n"))


def _lines(report: Report, show_statements: bool) -> list[_Line]:
    out = [_line((f"alembic-guard {report.tool_version}", "bold"),
                 f" · {shadow_line(report)} · {report.duration_ms / 1000:.1f} s"),
           _line((coverage_line(report), "dim"))]
    for rev in report.revisions:
        out += _revision(rev, show_statements)
    out += [_line(("note:", "yellow"), f" {note}") for note in report.notes]
    out += [_line(("tool error:", "magenta"), f" {err}") for err in report.tool_errors]
    out += [_line(), _line((summary_line(report), "bold"), (f" · {coverage_line(report)}", "dim"))]
    return out


def _revision(rev: RevisionTrace, show_statements: bool) -> list[_Line]:
    verdict = rev.verdict
    title = rev.doc.splitlines()[0] if rev.doc else ""
    out = [_line(), _line((f"{verdict.upper():6}", STYLE[verdict]), " ", (rev.revision, "bold"), f" {title}"),
           _line((f"  {relpath(rev.path)}", "dim"))]
    if rev.skipped:
        out.append(_line((f"  {rev.skipped}", "magenta")))
    cov_lines = revision_coverage(rev)
    if len(cov_lines) > 1 or show_statements:
        out.append(_line((f"  coverage: {cov_lines[0]}", "dim")))
        out += [_line((f"  {text}", "yellow" if text.startswith("not seen") else "dim")) for text in cov_lines[1:]]
    for f in active(rev.findings):
        loc = f":{f.line}" if f.line else ""
        out.append(_line((f.severity, SEV_STYLE.get(f.severity, "")), " ", (f.rule, "bold"), " ",
                         (f"line{loc.replace(':', ' ') or ' ?'}", "dim"), f": {f.message}", indent=2))
        if f.fix:
            # code is never wrapped: a paste-ready block stays paste-ready at any terminal width
            out.append(_line("    safe alternative:"))
            out.append(_line("\n".join("      " + ln for ln in f.fix.splitlines()), wrap=False, code=True))
        if f.docs:
            out.append(_line((f"    docs: {f.docs}", "dim"), wrap=False))  # a URL stays one piece
    out += [_line((f"  suppressed {f.rule} line {f.line}: {f.suppressed}", "dim"))
            for f in rev.findings if f.suppressed]
    locks = lock_summary(rev)
    if locks and (verdict != "safe" or show_statements):
        out += [_line((f"  lock: {text}", "dim")) for text in locks]
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
            out.append(_line((f"    line {st.line} {o.duration_ms:.1f} ms", "dim"), f" {st.sql.splitlines()[0][:80]}",
                             *([(f" ({'; '.join(extra)})", "dim")] if extra else []), wrap=False))
    return out


class _Wrapper(textwrap.TextWrapper):
    def _handle_long_word(self, reversed_chunks, cur_line, cur_len, width):
        # a word longer than a whole line: rich (rich/_wrap.py divide_line) ends the current line and
        # folds the word from the start of the next; textwrap would fill the current line with its head
        if any(chunk.strip() for chunk in cur_line):  # a line's leading spaces are part of its first word
            return
        super()._handle_long_word(reversed_chunks, cur_line, cur_len, width)


def _plain(lines: list[_Line], width: int) -> str:
    """The lines without color, wrapped as rich wraps them: words at spaces, a word longer than a
    line folded from the start of a line of its own, every line of an indented paragraph indented."""
    wrappers: dict[int, textwrap.TextWrapper] = {}
    out: list[str] = []
    for ln in lines:
        text = ln.text
        if not ln.wrap:
            out.append(text)
            continue
        if len(text) + ln.indent <= width and "\n" not in text:  # most lines: nothing to wrap
            out.append(" " * ln.indent + text)
            continue
        wrapper = wrappers.get(ln.indent)
        if wrapper is None:
            pad = " " * ln.indent
            wrapper = wrappers[ln.indent] = _Wrapper(
                width=width, initial_indent=pad, subsequent_indent=pad, break_on_hyphens=False,
                break_long_words=True, replace_whitespace=False, drop_whitespace=True, expand_tabs=False)
        for part in text.split("\n"):
            out += wrapper.wrap(part) or [""]
    return "\n".join(out) + "\n"


def _rich(lines: list[_Line], *, color: bool, width: int) -> str:
    from rich.console import Console
    from rich.padding import Padding
    from rich.syntax import Syntax
    from rich.text import Text

    buf = io.StringIO()
    con = Console(file=buf, force_terminal=color, no_color=not color, width=width, highlight=False, soft_wrap=False)
    for ln in lines:
        if ln.code:
            if color:
                con.print(Syntax(ln.text, "python", theme="ansi_dark", background_color="default", word_wrap=False),
                          soft_wrap=True)
            else:
                con.print(Text(ln.text), soft_wrap=True)
            continue
        text = Text.assemble(*ln.spans)
        if not ln.wrap:
            con.print(text, soft_wrap=True)
        elif ln.indent:
            con.print(Padding(text, (0, 0, 0, ln.indent), expand=False))
        else:
            con.print(text)
    return buf.getvalue()
