"""Exit status of every command, decided here and nowhere else.

- 0 ``OK``: nothing reaches ``--fail-on`` (check), every unsafe revision was rewritten and proven (fix);
- 1 ``UNSAFE``: a revision stays unsafe (check: a finding at or above ``--fail-on``, a failed revision,
  an ``unknown`` verdict with ``fail-on-unknown``; fix: a finding whose line was not rewritten and
  accepted, a refusal, a rewrite the proof rejected);
- 2 ``BAD_INPUT``: bad usage, a broken project, SQL that does not parse, no shadow (infrastructure);
- 130 ``INTERRUPTED``: Ctrl-C or SIGTERM (the shadow is stopped and its files removed first).

The per-revision integrations (pre-commit hook, pytest plugin) ask :func:`revision_fails`, so they
fail exactly the revisions that make ``check`` exit 1.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from .errors import GuardError

if TYPE_CHECKING:
    from .model import Report, RevisionTrace
    from .rewrite.fix import FixReport

OK, UNSAFE, BAD_INPUT, INTERRUPTED = 0, 1, 2, 130

SEVERITY_RANK = {"info": 0, "warning": 1, "error": 2}
SYNTAX_ERROR = "42601"  # SQLSTATE syntax_error


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


def bad_sql(report: Report) -> list[GuardError]:
    """Statements PostgreSQL could not parse: bad input, not an unsafe migration."""
    return [GuardError(f"SQL that does not parse in revision {rev.revision}: {st.observation.error}",
                       path=st.path, line=st.line)
            for rev in report.revisions for st in rev.statements if st.observation.sqlstate == SYNTAX_ERROR]


def check_exit(report: Report) -> int:
    """``check``: 2 for SQL that does not parse, 1 when a revision fails (:func:`revision_fails`), else 0."""
    if bad_sql(report):
        return BAD_INPUT
    return UNSAFE if any(revision_fails(report, rev) for rev in report.revisions) else OK


def fix_exit(report: FixReport) -> int:
    """``fix``: 1 when a requested revision is still unsafe after rewriting (rewrite.report.still_unsafe:
    a finding whose line was not rewritten and accepted, a refusal, a rejected rewrite), else 0."""
    from .rewrite.report import still_unsafe  # lazily: libcst and the rewrite machinery load slowly

    return UNSAFE if any(still_unsafe(fx) for fx in report.revisions) else OK


def upgrade_exit(result) -> int:
    """``upgrade``: 1 when it stopped before the target (a revision check judged unsafe, a revision
    that failed or still waited for its lock after every retry), else 0 (dry run included)."""
    return OK if result.ok else UNSAFE


def doctor_exit(findings: list) -> int:
    """``doctor``: 1 when env.py has a pattern that breaks migration safety, else 0."""
    return UNSAFE if findings else OK
