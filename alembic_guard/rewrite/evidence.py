"""What ``fix`` learns from the trace and the shadow: which lines of a revision to touch (the trace's
evidence and the findings), and the ``Facts`` a rewrite of one line gets."""

from __future__ import annotations

import psycopg

from ..model import RevisionTrace, Statement
from .facts import Facts, calls_volatile
from ..locks import TABLE_KINDS
from .proof import LockBudget


def evidence(rev: RevisionTrace, st: Statement, budget: LockBudget) -> list[str]:
    """What the trace says is dangerous about ``st`` (empty: nothing)."""
    out = []
    for lk in st.observation.new_locks:
        if not lk.preexisting or lk.kind not in TABLE_KINDS or not lk.dangerous:
            continue
        under = rev.statements[lk.statement_index:lk.statement_index + max(lk.held_statements, 1)]
        if any(lk.relation in s.observation.rewritten for s in under):
            out.append(f"{lk.relation} rewritten under {lk.mode}")
        elif any(lk.relation in s.observation.seq_scans for s in under):
            out.append(f"{lk.relation} scanned under {lk.mode}")
        elif lk.held_ms > budget.max_held_ms:
            out.append(f"{lk.mode} on {lk.relation} held {lk.held_ms:.0f} ms")
        elif lk.mode == "ACCESS EXCLUSIVE" and not st.observation.lock_timeout_ms:
            out.append(f"ACCESS EXCLUSIVE on {lk.relation} without lock_timeout")
    return out


def candidate_lines(rev: RevisionTrace, budget: LockBudget) -> dict[int, list[str]]:
    """Line → reasons (finding rule ids and trace evidence) for the lines ``fix`` should touch.

    Nothing for a revision no rule calls unsafe: a safe revision is left byte-for-byte alone, even
    if the trace shows a brief ACCESS EXCLUSIVE without lock_timeout (a warning, not a danger)."""
    if not any(f.severity == "error" and not f.suppressed and f.rule != "revision-fails" for f in rev.findings):
        return {}
    lines: dict[int, list[str]] = {}
    for f in rev.findings:
        if f.line and not f.suppressed and f.severity in ("error", "warning") and f.rule != "revision-fails":
            for line in f.lines or [f.line]:  # a grouped finding covers several lines
                lines.setdefault(line, []).append(f"{f.rule}: {f.message}")
    for st in rev.statements:
        if st.line:
            for ev in evidence(rev, st, budget):
                lines.setdefault(st.line, []).append(f"trace: {ev}")
    return lines


class ShadowFacts:
    """Catalog questions answered by the traced shadow database (at the project's head)."""

    def __init__(self, conninfo: str, version_num: int):
        self.conninfo = conninfo
        self.version_num = version_num

    def _one(self, sql: str, *params) -> object:
        with psycopg.connect(self.conninfo, autocommit=True) as conn:
            row = conn.execute(sql, params).fetchone()
            return row[0] if row else None

    def relkind(self, table: str) -> str | None:
        return self._one("SELECT relkind::text FROM pg_class WHERE oid = to_regclass(%s)", table)

    def volatile(self, expr: str) -> bool | None:
        return calls_volatile(expr, lambda names: bool(self._one(
            "SELECT bool_or(provolatile = 'v') FROM pg_proc WHERE proname = ANY(%s)", names)))

    def matview_has_unique_index(self, name: str) -> bool:
        return bool(self._one(
            "SELECT EXISTS (SELECT 1 FROM pg_index WHERE indrelid = to_regclass(%s) AND indisunique "
            "AND indpred IS NULL AND indexprs IS NULL)", name))

    def has_default_partition(self, table: str) -> bool:
        return bool(self._one("SELECT partdefid <> 0 FROM pg_partitioned_table WHERE partrelid = to_regclass(%s)",
                              table))


def facts_for(rev: RevisionTrace, line: int, shadow: ShadowFacts) -> Facts:
    """The Facts for the statements the trace attributes to ``line`` of ``rev``."""
    sts = [s for s in rev.statements if s.line == line]
    return Facts(
        preexisting=lambda t: t in rev.preexisting,
        relkind=shadow.relkind,
        statements=[s.sql for s in sts],
        rewritten={r for s in sts for r in s.observation.rewritten},
        scanned={r for s in sts for r in s.observation.seq_scans},
        lock_timeout_ms=min((s.observation.lock_timeout_ms for s in sts), default=0),
        server_version_num=shadow.version_num,
        volatile=shadow.volatile,
        matview_has_unique_index=shadow.matview_has_unique_index,
        has_default_partition=shadow.has_default_partition,
        access_exclusive=any(lk.mode == "ACCESS EXCLUSIVE" and lk.preexisting and lk.kind in TABLE_KINDS
                             for s in sts for lk in s.observation.new_locks),
        tables=rev.tables,
    )
