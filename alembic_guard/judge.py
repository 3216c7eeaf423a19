"""Judge stage: run every rule over every traced statement and collect findings."""

from __future__ import annotations

from collections.abc import Iterable

from .model import Finding, RevisionTrace
from .rules import Context, Rule, all_rules
from .sql.parse import parse_one
from .suppress import suppression_for

REVISION_FAILS = "revision-fails"
SUPPRESSION_WITHOUT_REASON = "suppression-without-reason"
GENERIC_RULES = {"rewrite-under-lock"}  # reported only when no specific rule explains the statement


def judge(revisions: Iterable[RevisionTrace], server_version_num: int, *, disabled: Iterable[str] = (),
          rules: list[Rule] | None = None, severity: dict[str, str] | None = None) -> None:
    """Fill ``revision.findings`` for each revision (in place).

    ``disabled`` rule ids are not run and ``severity`` overrides a rule's severity
    (``[tool.alembic-guard] disable = [...]``, ``severity = {rule = "warning"}``).
    """
    severity = severity or {}
    off = set(disabled)
    active = [r for r in (rules if rules is not None else list(all_rules())) if r.id not in off]
    for rev in revisions:
        rev.findings = []
        if rev.error:
            line = rev.error_line or next((s.line for s in rev.statements if s.observation.error), None)
            rev.findings.append(Finding(rule=REVISION_FAILS, severity="error", revision=rev.revision,
                                        path=rev.path, line=line,
                                        message=f"the revision fails on the shadow PostgreSQL: {rev.error}"))
        for i, st in enumerate(rev.statements):
            ctx = Context(statement=st, node=parse_one(st.sql), revision=rev,
                          server_version_num=server_version_num, previous=rev.statements[:i])
            found: list[Finding] = []
            for rule in active:
                if rule.id in GENERIC_RULES:
                    continue
                found.extend(rule.check(ctx))
            if not any(f.severity == "error" for f in found):
                for rule in active:
                    if rule.id in GENERIC_RULES:
                        found.extend(rule.check(ctx))
            rev.findings.extend(found)
        for f in rev.findings:
            f.severity = severity.get(f.rule, f.severity)
        _dedupe(rev)
        _apply_suppressions(rev)


def _dedupe(rev: RevisionTrace) -> None:
    seen = set()
    kept = []
    for f in rev.findings:
        key = (f.rule, f.line, f.table, f.message)
        if key not in seen:
            seen.add(key)
            kept.append(f)
    rev.findings = kept


def _apply_suppressions(rev: RevisionTrace) -> None:
    extra = []
    for f in rev.findings:
        hit = suppression_for(f.path, f.line, f.rule)
        if hit is None:
            continue
        line, reason = hit
        if reason:
            f.suppressed = reason
        else:
            f.suppressed = "(no reason given)"
            extra.append(Finding(rule=SUPPRESSION_WITHOUT_REASON, severity="warning", revision=rev.revision,
                                 path=f.path, line=line,
                                 message=f"the suppression of {f.rule} gives no reason; write why it is safe "
                                         f"after the bracket: # alembic-guard: ignore[{f.rule}] <reason>"))
    rev.findings.extend(extra)
