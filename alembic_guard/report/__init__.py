"""Reporters: they only format a Report (text, markdown, json, sarif, github, gitlab)."""

from __future__ import annotations

from ..model import Report

FORMATS = ("text", "markdown", "json", "sarif", "github", "gitlab")


def render(report: Report, fmt: str, *, color: bool = False, width: int | None = None) -> str:
    """The report in ``fmt`` as a string, passwords redacted (alembic_guard.redact: an error message
    of a revision or of env.py may quote a connection string)."""
    from ..redact import redact

    return redact(_render(report, fmt, color=color, width=width))


def _render(report: Report, fmt: str, *, color: bool = False, width: int | None = None) -> str:
    if fmt == "json":
        from .json_report import render_json
        return render_json(report)
    if fmt == "markdown":
        from .markdown import render_markdown
        return render_markdown(report)
    if fmt == "sarif":
        from .sarif import render_sarif
        return render_sarif(report)
    if fmt == "github":
        from .github import render_github
        return render_github(report)
    if fmt == "gitlab":
        from .gitlab import render_gitlab
        return render_gitlab(report)
    from .text import render_text
    return render_text(report, color=color, width=width)
