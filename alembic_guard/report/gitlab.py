"""GitLab Code Quality report (``artifacts:reports:codequality``): a JSON array of issues, the subset of
the Code Climate issue format GitLab reads (description, check_name, fingerprint, severity,
location.path, location.lines.begin).

Severity: an ``error`` finding is ``critical`` (the revision is unsafe and fails the check), except
``revision-fails`` and a revision not run, which are ``blocker`` (the deploy itself would fail); a
``warning`` is ``major``; ``info`` is ``info``; a revision whose verdict is ``unknown`` gets one
``major`` issue ``not-seen``. ``minor`` is not used.

The fingerprint is the SHA-256 of revision, rule, table and the statement's SQL (the message when the
finding is about no statement): it stays the same when lines move, so GitLab matches an issue across
the base and head of a merge request. Two findings that would share one get ``-2``, ``-3``…
"""

from __future__ import annotations

import hashlib
import json

from ..model import Report
from .common import active, repo_path, statement_sql

SEVERITY = {"error": "critical", "warning": "major", "info": "info"}
BLOCKER_RULES = {"revision-fails"}


def fingerprint(*parts: str) -> str:
    return hashlib.sha256("\0".join(parts).encode()).hexdigest()


def render_gitlab(report: Report) -> str:
    issues: list[dict] = []
    seen: dict[str, int] = {}

    def add(check: str, severity: str, description: str, path: str, line: int | None, key: tuple[str, ...],
            body: str | None = None) -> None:
        fp = fingerprint(*key)
        seen[fp] = seen.get(fp, 0) + 1
        if seen[fp] > 1:
            fp = f"{fp}-{seen[fp]}"
        issue = {"type": "issue", "check_name": check, "description": description, "fingerprint": fp,
                 "severity": severity, "location": {"path": path, "lines": {"begin": max(int(line or 1), 1)}}}
        if body:
            issue["content"] = {"body": body}  # Code Climate's field; GitLab ignores it
        issues.append(issue)

    for rev in report.revisions:
        path = repo_path(rev.path)
        for f in active(rev.findings):
            severity = "blocker" if f.rule in BLOCKER_RULES else SEVERITY.get(f.severity, "major")
            body = None
            if f.fix:
                body = "Safe alternative:\n\n```python\n" + f.fix + "\n```"
            if f.docs:
                body = (body + "\n\n" if body else "") + f"PostgreSQL docs: {f.docs}"
            add(f.rule, severity, f"{f.message} (revision {rev.revision})", repo_path(f.path or rev.path), f.line,
                (rev.revision, f.rule, f.table or "", statement_sql(rev, f) or f.message), body)
        if rev.skipped and not active(rev.findings):
            add("revision-not-run", "blocker", f"revision {rev.revision} {rev.skipped}", path, None,
                (rev.revision, "revision-not-run"))
        if rev.verdict == "unknown":
            add("not-seen", "major", f"revision {rev.revision}: verdict unknown, the trace did not see every "
                f"statement: {'; '.join(rev.unseen)}", path, None, (rev.revision, "not-seen", *rev.unseen))
    return json.dumps(issues, indent=2) + "\n"
