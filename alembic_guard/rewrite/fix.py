"""``alembic-guard fix``: rewrite hand-written revisions with libcst, prove each rewrite on the shadow.

This module runs the job; the pieces are elsewhere.

1. Trace the project on a shadow (capture.Runner) and judge it: which lines of which revision take a
   dangerous lock on a pre-existing table (a finding, or the trace's own evidence: a scan or rewrite
   under SHARE or stronger, or ACCESS EXCLUSIVE without lock_timeout; rewrite.evidence).
2. For each such line, the ``op.<name>(...)`` statement there is replaced (libcst: comments, layout
   and everything else stay byte-for-byte; rewrite.edit) by its safe form (rewrite.steps), or gets a
   comment and an expand/contract plan when it cannot be made safe in one revision.
3. The original and the rewritten revision are applied from the same seeded base on two scratch
   databases (rewrite.proof); only a rewrite with the same final catalog and no dangerous lock over
   budget is kept. A kept rewrite gets a header comment naming the PostgreSQL version it was verified on.
"""
from __future__ import annotations

import difflib
from dataclasses import dataclass, field
from pathlib import Path

import libcst as cst

from ..capture.project import Project, load_project
from ..capture.redirect import redirect_connections
from ..capture.runner import Runner
from ..errors import GuardError
from ..judge import judge
from ..model import Finding, RevisionTrace
from ..shadow import ShadowServer, obtain_shadow, scratch_database
from . import plans
from .edit import HEADER, apply_rewrites, locate, statement_call
from .evidence import ShadowFacts, candidate_lines, evidence, facts_for
from .proof import UNRUNNABLE_AS_WRITTEN
from .opcall import Call, call_from_cst
from .outcome import Outcome
from .proof import LockBudget, Proof, project_copy, prove
from .steps.registry import rewrite_call

__all__ = ["HEADER", "FixReport", "LineRewrite", "RevisionFix", "ShadowFacts", "apply_rewrites", "candidate_lines",
           "evidence", "facts_for", "fix_revision", "header_lines", "plan_revision", "run_fix"]


@dataclass
class LineRewrite:
    """One rewritten (or refused) op call of a revision."""

    line: int  # the statement's first line
    kind: str
    what: str
    trigger: str  # the findings / trace evidence that selected the line
    before: str  # the original statement's source
    after: str | None = None  # replacement source (None: refused / not applied)
    refused: str | None = None
    plan: list[plans.PlanStep] = field(default_factory=list)
    accepted: bool = False
    rejected_because: list[str] = field(default_factory=list)
    end: int = 0  # the statement's last line (0: the same as ``line``)

    def covers(self, line: int) -> bool:
        return self.line <= line <= max(self.end, self.line)


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
    findings: list[Finding] = field(default_factory=list)  # the judge's findings on the original

    @property
    def diff(self) -> str:
        """A unified diff ``git apply`` accepts: ``a/`` ``b/`` paths relative to the repository root
        (the directory holding ``.git`` above the file; else the current directory)."""
        if self.new_source is None or self.new_source == self.source:
            return ""
        rel = _rel(self.path)
        lines = list(difflib.unified_diff(self.source.splitlines(True), self.new_source.splitlines(True),
                                          f"a/{rel}", f"b/{rel}"))
        out = [f"diff --git a/{rel} b/{rel}\n"]
        for ln in lines:
            out.append(ln if ln.endswith("\n") else ln + "\n\\ No newline at end of file\n")
        return "".join(out)


@dataclass
class FixReport:
    server_version: str = ""
    provider: str = ""
    revisions: list[RevisionFix] = field(default_factory=list)
    budget: LockBudget = field(default_factory=LockBudget)


# -- the job ------------------------------------------------------------------------------------

def plan_revision(rev: RevisionTrace, shadow: ShadowFacts, budget: LockBudget) \
        -> tuple[str, list[tuple[int, Outcome, LineRewrite]]]:
    """Outcomes for the candidate lines of ``rev`` (nothing is proven yet)."""
    source = Path(rev.path).read_text()
    wanted = candidate_lines(rev, budget)
    if not wanted:
        return source, []
    module = cst.parse_module(source)
    found = locate(module)
    out = []
    done: set[int] = set()
    for line, reasons in sorted(wanted.items()):
        hit = next(((s, a, b, ac) for s, a, b, ac in found if a <= line <= b), None)
        if hit is None or id(hit[0]) in done:
            continue
        stmt, start, end, in_autocommit = hit
        call_node = statement_call(stmt)
        call: Call | None = call_from_cst(call_node, module) if call_node is not None else None
        before = module.code_for_node(stmt).strip("\n")
        if call is None or in_autocommit:
            continue
        outcome = rewrite_call(call, facts_for(rev, line, shadow))
        if outcome is None:
            continue
        done.add(id(stmt))
        out.append((start, outcome, LineRewrite(line=start, end=end, kind=outcome.kind, what=outcome.what,
                                               trigger="; ".join(reasons), before=before, after=outcome.code,
                                               refused=outcome.refused, plan=outcome.plan)))
    return source, out


def header_lines(rewrites: list[LineRewrite], server_version: str, budget: LockBudget,
                 original_unrunnable: bool = False) -> list[str]:
    kinds = ", ".join(sorted({r.kind for r in rewrites if r.accepted}))
    same = ("the original could not run (CONCURRENTLY inside a transaction block), the rewrite does"
            if original_unrunnable else "same final schema as the original")
    return [f"{HEADER} rewritten by `alembic-guard fix` ({kinds}); verified on PostgreSQL {server_version}:",
            f"{HEADER} {same}, no SHARE-or-stronger lock on an existing table "
            f"beyond {budget.max_held_ms:g} ms or during a scan/rewrite."]


def fix_revision(project: Project, server: ShadowServer, rev: RevisionTrace, shadow: ShadowFacts,
                 budget: LockBudget) -> RevisionFix:
    """Plan, apply and prove the rewrites of one traced revision (see module doc)."""
    source, planned = plan_revision(rev, shadow, budget)
    result = RevisionFix(revision=rev.revision, path=rev.path, source=source,
                         rewrites=[lr for _, _, lr in planned], findings=list(rev.findings))
    if not planned:
        unsafe = any(f.severity == "error" and not f.suppressed for f in rev.findings)
        result.note = ("not fixed: no rewrite is known for its unsafe statements" if unsafe else
                       "nothing to rewrite: no finding and no dangerous lock on an existing table")
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
        header = header_lines(result.rewrites, result.proof.server_version, budget,
                              result.proof.original_unrunnable) if accepted else None
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
    report = FixReport(budget=budget)
    import contextlib

    from ..check_config import target_version

    target = target_version(config_file, pg_version)
    with (contextlib.nullcontext(server) if server else obtain_shadow(shadow, shadow_url, target)) as server:
        report.server_version, report.provider = server.version, server.provider
        with scratch_database(server) as dbname:
            # The revision scripts run only now, connections redirected to the shadow.
            with redirect_connections(server, dbname, project.version_dirs()):
                project.load_revisions()
            wanted = _wanted(project, revisions, config_file)
            traces = Runner(project, server, dbname).run()
            judge(traces, server.version_num)
            facts = ShadowFacts(server.conninfo(dbname), server.version_num)
            by_id = {t.revision: t for t in traces}
            for rev_id in wanted:
                rev = by_id.get(rev_id)
                # A revision that fails only because a CONCURRENTLY step runs inside a transaction
                # block (SQLSTATE 25001), or uses an enum value its transaction added (55P04), is
                # exactly what fix repairs; any other failure is not.
                unrunnable = rev is not None and rev.error and any(
                    st.observation.sqlstate in UNRUNNABLE_AS_WRITTEN for st in rev.statements)
                if rev is None or (rev.error and not unrunnable) or rev.skipped:
                    why = (rev.error or rev.skipped) if rev else "not traced"
                    report.revisions.append(RevisionFix(rev_id, rev.path if rev else "", "",
                                                        note=f"not fixed: {why}",
                                                        findings=list(rev.findings) if rev else []))
                    continue
                report.revisions.append(fix_revision(project, server, rev, facts, budget))
    if write:
        for fx in report.revisions:
            if fx.new_source is not None and fx.new_source != fx.source:
                Path(fx.path).write_text(fx.new_source)
    return report


def _wanted(project: Project, revisions: list[str], config_file: str) -> list[str]:
    """The ids of ``revisions`` (ids, prefixes, ``head``) in the loaded ``project``."""
    wanted = []
    for r in revisions:
        try:
            sc = project.script.get_revision(r)
        except Exception as exc:
            raise GuardError(f"unknown revision {r!r}: {exc}", path=config_file) from exc
        if sc is None:
            raise GuardError(f"unknown revision {r!r}", path=config_file)
        wanted.append(sc.revision)
    return wanted


def _rel(path: str) -> str:
    """``path`` relative to its repository's root (the nearest directory above it with ``.git``),
    else to the current directory, else as given."""
    import os

    full = Path(path).resolve()
    for directory in full.parents:
        if (directory / ".git").exists():
            return full.relative_to(directory).as_posix()
    rel = os.path.relpath(path)
    return path if rel.startswith("..") else rel
