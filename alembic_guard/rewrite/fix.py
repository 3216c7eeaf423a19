"""``alembic-guard fix``: rewrite hand-written revisions with libcst, prove each rewrite on the shadow.

1. Trace the project on a shadow (capture.Runner) and judge it: which lines of which revision take a
   dangerous lock on a pre-existing table (a finding, or the trace's own evidence: a scan or rewrite
   under SHARE or stronger, or ACCESS EXCLUSIVE without lock_timeout).
2. For each such line, the ``op.<name>(...)`` statement there is replaced (libcst: comments, layout
   and everything else stay byte-for-byte) by its safe form (rewrite.calls), or gets a comment and an
   expand/contract plan when it cannot be made safe in one revision.
3. The original and the rewritten revision are applied from the same seeded base on two scratch
   databases (rewrite.proof); only a rewrite with the same final catalog and no dangerous lock over
   budget is kept. A kept rewrite gets a header comment naming the PostgreSQL version it was verified on.
"""

from __future__ import annotations

import difflib
from dataclasses import dataclass, field
from pathlib import Path

import libcst as cst
import psycopg
from libcst.metadata import MetadataWrapper, PositionProvider

from ..capture.project import Project, load_project
from ..capture.runner import Runner
from ..errors import GuardError
from ..judge import judge
from ..model import RevisionTrace, Statement
from ..shadow import ShadowServer, obtain_shadow, scratch_database
from . import plans
from .calls import OPS_IMPORT, Call, Facts, Outcome, call_from_cst, calls_volatile, rewrite_call
from .proof import TABLE_KINDS, LockBudget, Proof, dangerous, project_copy, prove

HEADER = "# alembic-guard:"


@dataclass
class LineRewrite:
    """One rewritten (or refused) op call of a revision."""

    line: int
    kind: str
    what: str
    trigger: str  # the findings / trace evidence that selected the line
    before: str  # the original statement's source
    after: str | None = None  # replacement source (None: refused / not applied)
    refused: str | None = None
    plan: list[plans.PlanStep] = field(default_factory=list)
    accepted: bool = False
    rejected_because: list[str] = field(default_factory=list)


@dataclass
class RevisionFix:
    """The fix of one revision file: ``new_source`` is what ``--write`` writes (None: unchanged)."""

    revision: str
    path: str
    source: str
    new_source: str | None = None
    rewrites: list[LineRewrite] = field(default_factory=list)
    proof: Proof | None = None
    note: str | None = None  # e.g. "safe: nothing to rewrite"

    @property
    def diff(self) -> str:
        if self.new_source is None or self.new_source == self.source:
            return ""
        return "".join(difflib.unified_diff(self.source.splitlines(True), self.new_source.splitlines(True),
                                            f"a/{_rel(self.path)}", f"b/{_rel(self.path)}"))


@dataclass
class FixReport:
    server_version: str = ""
    provider: str = ""
    revisions: list[RevisionFix] = field(default_factory=list)
    budget: LockBudget = field(default_factory=LockBudget)


# -- choosing lines ------------------------------------------------------------------------------

def evidence(rev: RevisionTrace, st: Statement, budget: LockBudget) -> list[str]:
    """What the trace says is dangerous about ``st`` (empty: nothing)."""
    out = []
    for lk in st.observation.new_locks:
        if not lk.preexisting or not dangerous(lk):
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
    """Line → reasons (finding rule ids and trace evidence) for the lines ``fix`` should touch."""
    lines: dict[int, list[str]] = {}
    for f in rev.findings:
        if f.line and not f.suppressed and f.severity in ("error", "warning") and f.rule != "revision-fails":
            lines.setdefault(f.line, []).append(f"{f.rule}: {f.message}")
    for st in rev.statements:
        if st.line:
            for ev in evidence(rev, st, budget):
                lines.setdefault(st.line, []).append(f"trace: {ev}")
    return lines


# -- finding statements in the file ----------------------------------------------------------------

class _Locator(cst.CSTVisitor):
    """Collects the simple statements of ``upgrade()`` (also inside ``with`` blocks) with their
    line ranges, and whether they sit in an autocommit block."""

    METADATA_DEPENDENCIES = (PositionProvider,)

    def __init__(self, function: str = "upgrade"):
        self.function = function
        self.depth = 0
        self.autocommit = 0
        self.found: list[tuple[cst.SimpleStatementLine, int, int, bool]] = []

    def visit_FunctionDef(self, node: cst.FunctionDef) -> bool:
        if self.depth == 0 and node.name.value == self.function:
            self.depth = 1
            return True
        return self.depth > 0 and False

    def leave_FunctionDef(self, node: cst.FunctionDef) -> None:
        if node.name.value == self.function:
            self.depth = 0

    def visit_With(self, node: cst.With) -> bool:
        if any("autocommit_block" in cst.Module(body=[]).code_for_node(i.item) for i in node.items):
            self.autocommit += 1
        return True

    def leave_With(self, node: cst.With) -> None:
        if any("autocommit_block" in cst.Module(body=[]).code_for_node(i.item) for i in node.items):
            self.autocommit -= 1

    def visit_If(self, node) -> bool:
        return False

    visit_For = visit_While = visit_Try = visit_If

    def visit_SimpleStatementLine(self, node: cst.SimpleStatementLine) -> bool:
        if self.depth:
            pos = self.get_metadata(PositionProvider, node)
            self.found.append((node, pos.start.line, pos.end.line, self.autocommit > 0))
        return False


def _op_call(stmt: cst.SimpleStatementLine) -> cst.Call | None:
    if len(stmt.body) != 1 or not isinstance(stmt.body[0], cst.Expr):
        return None
    value = stmt.body[0].value
    return value if isinstance(value, cst.Call) else None


class _Replace(cst.CSTTransformer):
    def __init__(self, replacements: dict[int, list[cst.BaseStatement]], comments: dict[int, list[str]]):
        self.replacements = replacements
        self.comments = comments

    def leave_SimpleStatementLine(self, original, updated):
        key = id(original)
        if key in self.comments:
            extra = [cst.EmptyLine(comment=cst.Comment(c)) for c in self.comments[key]]
            updated = updated.with_changes(leading_lines=[*updated.leading_lines, *extra])
        if key in self.replacements:
            new = list(self.replacements[key])
            first = new[0]
            new[0] = first.with_changes(leading_lines=[*updated.leading_lines, *first.leading_lines])
            return cst.FlattenSentinel(new)
        return updated


def _statements(code: str) -> list[cst.BaseStatement]:
    return list(cst.parse_module(code + "\n").body)


def apply_rewrites(source: str, chosen: list[tuple[int, Outcome]], header: list[str] | None = None) -> str:
    """``source`` with each (first line of an ``upgrade()`` statement, outcome) applied: code replaces
    the statement, a refusal
    adds comment lines above it; ``header`` comment lines go after the module docstring; the ops
    import is added when a replacement uses alembic_guard.ops. Everything else is untouched."""
    module = cst.parse_module(source)
    wrapper = MetadataWrapper(module, unsafe_skip_copy=True)
    locator = _Locator()
    wrapper.visit(locator)
    by_line = {start: stmt for stmt, start, _end, _ac in locator.found}
    replacements: dict[int, list[cst.BaseStatement]] = {}
    comments: dict[int, list[str]] = {}
    for line, outcome in chosen:
        stmt = by_line[line]
        if outcome.code:
            replacements[id(stmt)] = _statements(outcome.code)
        elif outcome.refused:
            comments[id(stmt)] = [f"{HEADER} not rewritten: {outcome.refused}."] + \
                ([f"{HEADER} expand/contract plan in `alembic-guard fix` output."] if outcome.plan else [])
    new = module.visit(_Replace(replacements, comments))
    body = list(new.body)
    if any(o.uses_ops for _, o in chosen) and "import alembic_guard.ops" not in source:
        at = next((i for i, s in enumerate(body) if isinstance(s, cst.SimpleStatementLine)
                   and isinstance(s.body[0], cst.ImportFrom) and cst.Module(body=[]).code_for_node(s.body[0])
                   .startswith("from alembic import")), None)
        if at is None:
            at = max((i for i, s in enumerate(body) if isinstance(s, cst.SimpleStatementLine)
                      and isinstance(s.body[0], (cst.Import, cst.ImportFrom))), default=0)
        body.insert(at + 1, cst.parse_statement(OPS_IMPORT + "\n"))
    if header:
        first = 1 if body and _is_docstring(body[0]) else 0
        if first < len(body):
            lines = [cst.EmptyLine(comment=cst.Comment(h)) for h in header]
            target = body[first]
            body[first] = target.with_changes(leading_lines=[*target.leading_lines, *lines])
    return new.with_changes(body=body).code


def _is_docstring(stmt: cst.BaseStatement) -> bool:
    return isinstance(stmt, cst.SimpleStatementLine) and isinstance(stmt.body[0], cst.Expr) \
        and isinstance(stmt.body[0].value, (cst.SimpleString, cst.ConcatenatedString))


# -- facts from the shadow --------------------------------------------------------------------------

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
    )


# -- the job ------------------------------------------------------------------------------------

def plan_revision(rev: RevisionTrace, shadow: ShadowFacts, budget: LockBudget) \
        -> tuple[str, list[tuple[int, Outcome, LineRewrite]]]:
    """Outcomes for the candidate lines of ``rev`` (nothing is proven yet)."""
    source = Path(rev.path).read_text()
    wanted = candidate_lines(rev, budget)
    if not wanted:
        return source, []
    module = cst.parse_module(source)
    wrapper = MetadataWrapper(module, unsafe_skip_copy=True)
    locator = _Locator()
    wrapper.visit(locator)
    out = []
    done: set[int] = set()
    for line, reasons in sorted(wanted.items()):
        hit = next(((s, a, b, ac) for s, a, b, ac in locator.found if a <= line <= b), None)
        if hit is None or id(hit[0]) in done:
            continue
        stmt, start, _end, in_autocommit = hit
        call_node = _op_call(stmt)
        call: Call | None = call_from_cst(call_node, module) if call_node is not None else None
        before = module.code_for_node(stmt).strip("\n")
        if call is None or in_autocommit:
            continue
        outcome = rewrite_call(call, facts_for(rev, line, shadow))
        if outcome is None:
            continue
        done.add(id(stmt))
        out.append((start, outcome, LineRewrite(line=start, kind=outcome.kind, what=outcome.what,
                                               trigger="; ".join(reasons), before=before, after=outcome.code,
                                               refused=outcome.refused, plan=outcome.plan)))
    return source, out


def header_lines(rewrites: list[LineRewrite], server_version: str, budget: LockBudget) -> list[str]:
    kinds = ", ".join(sorted({r.kind for r in rewrites if r.accepted}))
    return [f"{HEADER} rewritten by `alembic-guard fix` ({kinds}); verified on PostgreSQL {server_version}:",
            f"{HEADER} same final schema as the original, no SHARE-or-stronger lock on an existing table "
            f"beyond {budget.max_held_ms:g} ms or during a scan/rewrite."]


def fix_revision(project: Project, server: ShadowServer, rev: RevisionTrace, shadow: ShadowFacts,
                 budget: LockBudget) -> RevisionFix:
    """Plan, apply and prove the rewrites of one traced revision (see module doc)."""
    source, planned = plan_revision(rev, shadow, budget)
    result = RevisionFix(revision=rev.revision, path=rev.path, source=source,
                         rewrites=[lr for _, _, lr in planned])
    if not planned:
        result.note = "nothing to rewrite: no finding and no dangerous lock on an existing table"
        return result
    refusals = [(s, o) for s, o, _ in planned if not o.code]
    candidates = [(s, o, lr) for s, o, lr in planned if o.code]
    tables = sorted({lk.relation for st in rev.statements for lk in st.observation.new_locks
                     if lk.preexisting and lk.kind in ("r", "p")})
    base = rev.down_revision if isinstance(rev.down_revision, (str, type(None))) else None

    def attempt(chosen) -> Proof:
        new = apply_rewrites(source, [(s, o) for s, o, _ in chosen])
        with project_copy(project) as original, project_copy(project, {rev.path: new}) as rewritten:
            return prove(project, server, rev.revision, base, original=original, rewritten=rewritten,
                         tables=tables or None, budget=budget)

    accepted = []
    if candidates:
        proof = attempt(candidates)
        if proof.accepted:
            accepted = candidates
        elif len(candidates) > 1:
            for cand in candidates:  # find which ones hold on their own
                single = attempt([cand])
                if single.accepted:
                    accepted.append(cand)
                else:
                    cand[2].rejected_because = single.reasons()
            if accepted:
                proof = attempt(accepted)
                if not proof.accepted:
                    for cand in accepted:
                        cand[2].rejected_because = proof.reasons()
                    accepted = []
        if not accepted:
            for cand in candidates:
                cand[2].rejected_because = cand[2].rejected_because or proof.reasons()
        result.proof = proof
    for cand in accepted:
        cand[2].accepted = True
    chosen = [(s, o) for s, o, _ in accepted] + refusals
    if chosen:
        header = header_lines(result.rewrites, result.proof.server_version, budget) if accepted else None
        result.new_source = apply_rewrites(source, chosen, header)
    return result


def run_fix(config_file: str, revisions: list[str], *, section: str = "alembic", x_args: list[str] | None = None,
            shadow: str | None = None, shadow_url: str | None = None, pg_version: int | None = None,
            budget: LockBudget = LockBudget(), write: bool = False, server: ShadowServer | None = None) -> FixReport:
    """Fix ``revisions`` (ids, prefixes, ``head``) of the project at ``config_file``.

    With ``write`` the rewritten files are written in place. ``server``: a running shadow to use
    (default: obtain one from the provider chain). Raises GuardError for a bad project, an unknown
    revision, or no shadow."""
    project = load_project(config_file, section, x_args)
    wanted = []
    for r in revisions:
        try:
            sc = project.script.get_revision(r)
        except Exception as exc:
            raise GuardError(f"unknown revision {r!r}: {exc}", path=config_file) from exc
        if sc is None:
            raise GuardError(f"unknown revision {r!r}", path=config_file)
        wanted.append(sc.revision)
    report = FixReport(budget=budget)
    import contextlib

    with (contextlib.nullcontext(server) if server else obtain_shadow(shadow, shadow_url, pg_version)) as server:
        report.server_version, report.provider = server.version, server.provider
        with scratch_database(server) as dbname:
            traces = Runner(project, server, dbname).run()
            judge(traces, server.version_num)
            facts = ShadowFacts(server.conninfo(dbname), server.version_num)
            by_id = {t.revision: t for t in traces}
            for rev_id in wanted:
                rev = by_id.get(rev_id)
                if rev is None or rev.error or rev.skipped:
                    why = (rev.error or rev.skipped) if rev else "not traced"
                    report.revisions.append(RevisionFix(rev_id, rev.path if rev else "", "",
                                                        note=f"not fixed: {why}"))
                    continue
                report.revisions.append(fix_revision(project, server, rev, facts, budget))
    if write:
        for fx in report.revisions:
            if fx.new_source is not None and fx.new_source != fx.source:
                Path(fx.path).write_text(fx.new_source)
    return report


def _rel(path: str) -> str:
    import os

    rel = os.path.relpath(path)
    return path if rel.startswith("..") else rel
