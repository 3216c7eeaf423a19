"""Judge stage: run every rule over every traced statement and collect findings."""

from __future__ import annotations

import re
from collections.abc import Iterable

from .model import Finding, RevisionTrace
from .rules import Context, Rule, all_rules
from .rules._common import inner_contexts
from .stats import TableSize, estimate, human_bytes, human_rows
from .sql.parse import parse_all, parse_one
from .suppress import suppression_for

REVISION_FAILS = "revision-fails"
SUPPRESSION_WITHOUT_REASON = "suppression-without-reason"


def generic_rule_ids() -> set[str]:
    """Trace-first rules: reported unless a specific rule's error explains the same lock."""
    return {r.id for r in all_rules() if r.generic}


def _missing_role_hint(rev: RevisionTrace) -> str:
    """For a revision that failed on a role the shadow lacks (SQLSTATE 42704, undefined_object, on
    "role … does not exist"): how to say that production has it (shadow/roles.py)."""
    failed = next((s.observation for s in rev.statements if s.observation.error), None)
    if failed is None or failed.sqlstate != "42704" or not (rev.error or "").startswith("role "):
        return ""
    return ("; if production has that role from outside the migrations, list it in [tool.alembic-guard] "
            "production-roles")


def judge(revisions: Iterable[RevisionTrace], server_version_num: int, *, disabled: Iterable[str] = (),
          rules: list[Rule] | None = None, severity: dict[str, str] | None = None,
          sizes: dict[str, TableSize] | None = None) -> None:
    """Fill ``revision.findings`` for each revision (in place).

    ``disabled`` rule ids are not run and ``severity`` overrides a rule's severity
    (``[tool.alembic-guard] disable = [...]``, ``severity = {rule = "warning"}``). ``sizes``
    (production table sizes, see stats.py) add the table's size and a duration estimate to findings.

    The trace decides: a trace-first (generic) finding is replaced only by a specific rule's error on
    the same statement and table (or one it names in ``relations``), never dropped otherwise.

    Less noise: after suppressions, the unsuppressed findings of a rule with ``group_as`` that give the
    same advice in one revision become one finding listing the statements (``Finding.lines``), see
    :func:`group_findings`.
    """
    severity = severity or {}
    off = set(disabled)
    # a rule whose fact does not hold on the traced server's major is not run (Rule.versions)
    active = [r for r in (rules if rules is not None else list(all_rules()))
              if r.id not in off and r.applies(server_version_num)]
    for rev in revisions:
        rev.findings = []
        if rev.error:
            line = rev.error_line or next((s.line for s in rev.statements if s.observation.error), None)
            rev.findings.append(Finding(rule=REVISION_FAILS, severity="error", revision=rev.revision,
                                        path=rev.path, line=line,
                                        message=f"the revision fails on the shadow PostgreSQL: {rev.error}"
                                        + _missing_role_hint(rev)))
        doomed = dropped_later(rev)
        for i, st in enumerate(rev.statements):
            nodes = parse_all(st.sql)
            # one node per statement; a string of several the tracer could not split is judged by trace
            ctx = Context(statement=st, node=nodes[0] if nodes and len(nodes) == 1 else None, revision=rev,
                          server_version_num=server_version_num, previous=rev.statements[:i])
            specific: list[Finding] = []
            generic: list[Finding] = []
            for rule in active:
                (generic if rule.generic else specific).extend(rule.check(ctx))
            # the statements of a DO block or of a called function's body (sql/plpgsql.py): the specific
            # rules read each as if written directly, with the statement's observation; the trace-first
            # rules judged the statement whole above
            # (a rule that already spoke on the statement itself judged its observation: the lock rules
            # would say it again per embedded statement)
            spoke = {f.rule for f in specific}
            for inner_ctx in inner_contexts(ctx):
                for rule in active:
                    if not rule.generic and rule.id not in spoke:
                        specific.extend(rule.check(inner_ctx))
            # a specific rule explains a lock when it judged it an error itself (before the project's
            # severity overrides: downgrading that rule keeps the trace-first error away too)
            explained = {traced for f in specific if f.severity == "error"
                         for name in (f.table, *f.relations) if name for traced in (name, ctx.resolve(name))}
            for f in specific + generic:
                f.severity = severity.get(f.rule, f.severity)
            found = specific + [f for f in generic if f.table not in explained]
            if doomed.get(i):
                # the same transaction drops the table later: its traffic ends with this revision anyway
                found = [f for f in found if f.table not in doomed[i]]
            rev.findings.extend(found)
        _dedupe(rev)
        _apply_suppressions(rev)
        group_findings(rev, active)
        for f in rev.findings:
            if sizes and f.table in sizes:
                _add_size(f, rev, sizes[f.table])


def dropped_later(rev: RevisionTrace) -> dict[int, set[str]]:
    """Statement index → names (as that statement saw them) of the tables a later statement of the
    same transaction drops. Identity by OID, so a table renamed before its drop still counts."""
    out: dict[int, set[str]] = {}
    for j, later in enumerate(rev.statements):
        gone = set(later.observation.dropped_oids)
        if not gone or not later.in_transaction or later.observation.error:
            continue
        for i in range(j):
            st = rev.statements[i]
            if not st.in_transaction or st.observation.xact != later.observation.xact:
                continue
            names = {lk.relation for lk in st.observation.locks if lk.oid in gone}
            if names:
                out.setdefault(i, set()).update(names)
    return out


def _add_size(f: Finding, rev: RevisionTrace, size: TableSize) -> None:
    from pglast import ast

    f.table_rows, f.table_bytes = size.rows, size.bytes
    text = f" In production {f.table} has ~{human_rows(size.rows)} rows ({human_bytes(size.bytes)})"
    st = rev.statements[f.statement_index] if f.statement_index is not None else None
    kind = None
    if st is not None:
        if f.table in st.observation.rewritten:
            kind = "rewrite"
        elif f.table in st.observation.seq_scans:
            kind = "scan" if not isinstance(parse_one(st.sql), ast.IndexStmt) else "index"
        elif isinstance(parse_one(st.sql), ast.IndexStmt):
            kind = "index"
    if kind and size.rows:
        what = {"rewrite": "rewriting it", "scan": "scanning it", "index": "building the index"}[kind]
        text += f": {what} takes roughly {estimate(kind, size.rows)} on 2 cores, all of it under the lock"
    f.message = f.message.rstrip() + text + "."


def _dedupe(rev: RevisionTrace) -> None:
    seen = set()
    kept = []
    for f in rev.findings:
        key = (f.rule, f.line, f.table, f.message)
        if key not in seen:
            seen.add(key)
            kept.append(f)
    rev.findings = kept


_LINE_REF = re.compile(r"\blines? \d+(?:, \d+)*")


def _advice(fix: str | None) -> str | None:
    """The fix text with statement-specific line references replaced, to compare advice."""
    return _LINE_REF.sub("line N", fix) if fix else fix


def group_findings(rev: RevisionTrace, rules: Iterable[Rule]) -> None:
    """Merge the findings of one rule in ``rev`` that repeat the same advice into one (in place).

    Only rules with ``group_as`` are grouped, only unsuppressed findings (a suppression works per
    line: it was applied before), and only findings of the same rule, severity, file and fix text
    (rules with ``group_fixes = "combine"`` merge findings whose fixes differ in names, listing each
    fix, unless they are errors). The first finding stands for the group: its line, statement and
    table; ``lines`` lists every line, ``relations`` the other tables, the message every statement."""
    by_id = {r.id: r for r in rules if r.group_as}
    groups: dict[tuple, list[Finding]] = {}
    kept: list[Finding] = []
    for f in rev.findings:
        rule = by_id.get(f.rule)
        if rule is None or f.suppressed or f.detail is None:
            kept.append(f)
            continue
        combine = rule.group_fixes == "combine" and f.severity != "error"
        key = (f.rule, f.severity, f.path, None if combine else _advice(f.fix))
        if key in groups:
            groups[key].append(f)
        else:
            groups[key] = [f]
            kept.append(f)
    for (rule_id, *_), members in groups.items():
        if len(members) < 2:
            continue
        rule, first = by_id[rule_id], members[0]
        first.message = rule.group_message(members)
        first.lines = sorted({ln for f in members for ln in f.lines})
        tables = [f.table for f in members[1:] if f.table] + [r for f in members for r in f.relations]
        first.relations = list(dict.fromkeys(t for t in tables if t != first.table))
        fixes = list(dict.fromkeys(f.fix for f in members if f.fix))
        if len(fixes) > 1:
            first.fix = "\n".join(fixes)
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
