"""``alembic-guard mcp``: an MCP server (stdio) so that a coding agent checks a migration before it
applies it. Built on the official ``mcp`` Python SDK (``MCPServer`` in mcp 2.x, ``FastMCP`` in 1.x;
extra ``mcp``). Tools:

- ``check_revision(config, path=None, source=None)``: trace one revision on a shadow PostgreSQL
  (a file of the project, or the source text of a new revision file, checked in a temporary copy of
  the project) → verdict, findings with the safe form of each;
- ``explain_rule(rule_id)``: a rule's rationale, PostgreSQL docs page, bad and good example;
- ``fix_revision(config, revision)``: the proven rewrite as a unified diff (nothing is written),
  with what stays unsafe.

The tools return plain JSON-able dicts; errors (bad config, no shadow) come back as
``{"error": "<one paragraph>"}`` rather than a protocol failure, so the agent can read them.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from .errors import GuardError


def _server_class():
    try:
        from mcp.server.mcpserver import MCPServer  # mcp >= 2
    except ImportError:
        try:
            from mcp.server.fastmcp import FastMCP as MCPServer  # mcp 1.x
        except ImportError as exc:
            raise GuardError("the MCP server needs the `mcp` package.",
                             hint="Install it with: pip install 'alembic-guard-pg[mcp]'.") from exc
    return MCPServer


def _finding(f) -> dict[str, Any]:
    return {"rule": f.rule, "severity": f.severity, "line": f.line, "lines": f.lines, "table": f.table,
            "message": f.message, "safe_form": f.fix, "docs": f.docs, "suppressed": f.suppressed}


def check_revision(config: str = "alembic.ini", path: str | None = None, source: str | None = None) -> dict[str, Any]:
    """Trace a revision on a shadow PostgreSQL and judge it. Give ``path`` (a revision file of the
    project at ``config``) or ``source`` (the text of a new revision file; its ``down_revision``
    names its parent). Returns ``{"revision", "verdict", "findings": [...], "coverage", "postgresql"}``."""
    from .check import CheckOptions, run_check
    from .capture.project import load_project
    from .rewrite.proof import project_copy

    try:
        if (path is None) == (source is None):
            raise GuardError("give exactly one of `path` (a revision file) or `source` (revision file text).")
        opts = CheckOptions(config_file=config)
        if source is not None:
            project = load_project(config)
            with project_copy(project, add={"ag_mcp_candidate.py": source}) as copy:
                report = run_check(opts, project=copy)
                want = lambda rev: Path(rev.path).name == "ag_mcp_candidate.py"  # noqa: E731
                return _result(report, want)
        report = run_check(opts)
        target = Path(path).resolve()
        return _result(report, lambda rev: Path(rev.path).resolve() == target)
    except GuardError as err:
        return {"error": err.paragraph()}


def _result(report, want) -> dict[str, Any]:
    rev = next((r for r in report.revisions if want(r)), None)
    if rev is None:
        return {"error": "the revision was not found in the project's history (check its down_revision)."}
    return {"revision": rev.revision, "verdict": rev.verdict, "error": rev.error or rev.skipped,
            "findings": [_finding(f) for f in rev.findings], "coverage": rev.coverage(),
            "postgresql": report.server_version}


def explain_rule(rule_id: str) -> dict[str, Any]:
    """What a rule reports and why, with its PostgreSQL docs page and a bad/good example."""
    from .recipes import for_rule
    from .rules import all_rules

    rule = next((r for r in all_rules() if r.id == rule_id), None)
    if rule is None:
        return {"error": f"unknown rule {rule_id!r}; known: {', '.join(sorted(r.id for r in all_rules()))}"}
    return {"id": rule.id, "title": rule.title, "severity": rule.severity, "rationale": rule.rationale,
            "docs": rule.docs, "bad": rule.bad_example, "good": rule.good_example,
            "recipes": [r.id for r in for_rule(rule.id)]}


def fix_revision(config: str = "alembic.ini", revision: str = "head") -> dict[str, Any]:
    """The proven rewrite of ``revision`` as a unified diff (``git apply`` accepts it; nothing is
    written), and the findings that stay unsafe with why."""
    from .rewrite.fix import run_fix
    from .rewrite.report import still_unsafe

    try:
        report = run_fix(config, [revision], write=False)
    except GuardError as err:
        return {"error": err.paragraph()}
    out = []
    for fx in report.revisions:
        out.append({"revision": fx.revision, "path": fx.path, "diff": fx.diff, "note": fx.note,
                    "still_unsafe": [s.text() for s in still_unsafe(fx)]})
    return {"postgresql": report.server_version, "revisions": out}


def build_server():
    """The MCP server object with the three tools registered."""
    server = _server_class()("alembic-guard", instructions=(
        "Check an Alembic migration for PostgreSQL lock risk before applying it: check_revision traces it "
        "on a throwaway PostgreSQL; fix_revision returns a proven safe rewrite as a diff."))
    for fn in (check_revision, explain_rule, fix_revision):
        server.tool()(fn)
    return server


def serve() -> None:
    """Run the server on stdio until the client closes it."""
    build_server().run("stdio")
