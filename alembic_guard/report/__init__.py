"""Reporters: they only format a Report (text, markdown, json, sarif)."""

from __future__ import annotations

from ..model import Report

FORMATS = ("text", "markdown", "json", "sarif")


def render(report: Report, fmt: str, *, color: bool = False, width: int | None = None) -> str:
    """The report in ``fmt`` as a string."""
    if fmt == "json":
        from .json_report import render_json
        return render_json(report)
    if fmt == "markdown":
        from .markdown import render_markdown
        return render_markdown(report)
    if fmt == "sarif":
        from .sarif import render_sarif
        return render_sarif(report)
    from .text import render_text
    return render_text(report, color=color, width=width)
