"""Render a FixReport: terminal text or Markdown (before/after diff, locks, verification)."""

from __future__ import annotations

from dataclasses import dataclass

from .fix import FixReport, LineRewrite, RevisionFix
from .plans import render_plan


def status(fx: RevisionFix) -> str:
    """``rewritten`` / ``partly rewritten`` / ``refused`` / ``unchanged`` / ``not fixed``."""
    if fx.note and not fx.rewrites:
        return "not fixed" if fx.note.startswith("not fixed") else "unchanged"
    accepted = [r for r in fx.rewrites if r.accepted]
    if accepted and len(accepted) == len(fx.rewrites):
        return "partly rewritten" if still_unsafe(fx) else "rewritten"
    if accepted:
        return "partly rewritten"
    return "refused"


@dataclass(frozen=True)
class StillUnsafe:
    """What keeps a revision unsafe after ``fix``: a finding (``rule``, ``line``) and why it remains."""

    rule: str
    line: int | None
    reason: str

    def text(self) -> str:
        return f"{self.rule}" + (f" line {self.line}" if self.line else "") + f": {self.reason}"


def _why_not(lr: LineRewrite) -> str | None:
    """None when ``lr`` was rewritten and accepted, else why its line stays as it was."""
    if lr.accepted:
        return None
    if lr.refused:
        return f"refused: {lr.refused}" + (" (see its expand/contract plan)" if lr.plan else "")
    return "the proof rejected the rewrite: " + ("; ".join(lr.rejected_because) or "no reason given")


def still_unsafe(fx: RevisionFix) -> list[StillUnsafe]:
    """Every reason ``fx``'s revision is unsafe after the fix: each line of an unsuppressed error
    finding that no accepted rewrite covers (with the refusal or the proof's rejection of the rewrite
    there, or "no rewrite"), and each refused or rejected rewrite no such finding names (it was chosen
    for the trace's evidence). Empty: every unsafe line was rewritten and proven."""
    out: list[StillUnsafe] = []
    answered: set[int] = set()
    for f in fx.findings:
        if f.suppressed or f.severity != "error":
            continue
        for line in (f.lines or [f.line]):
            if line is None:
                out.append(StillUnsafe(f.rule, None, "the finding names no line of the revision to rewrite"))
                continue
            lr = next((r for r in fx.rewrites if r.covers(line)), None)
            if lr is not None:
                answered.add(id(lr))
            why = _why_not(lr) if lr is not None else (
                "no rewrite: " + fx.note.removeprefix("not fixed: ") if fx.note and fx.note.startswith("not fixed")
                else "no rewrite is known for this statement")
            if why:
                out.append(StillUnsafe(f.rule, line, why))
    for lr in fx.rewrites:
        why = _why_not(lr)
        if why and id(lr) not in answered:
            out.append(StillUnsafe(lr.trigger or lr.kind, lr.line, why))
    if not out and fx.note and fx.note.startswith("not fixed"):
        out.append(StillUnsafe("revision-fails", None, fx.note))
    return out


def _still_unsafe_text(fx: RevisionFix) -> list[str]:
    remaining = still_unsafe(fx)
    if not remaining:
        return []
    return ["  still unsafe:"] + [f"    - {r.text()}" for r in remaining]


def _line_text(lr: LineRewrite) -> list[str]:
    out = [f"  line {lr.line} {lr.kind}: {lr.what}", f"    why: {lr.trigger}"]
    if lr.refused:
        out.append(f"    not rewritten: {lr.refused}")
        if lr.plan:
            out.append("    expand/contract plan:")
            out += ["      " + ln for ln in render_plan(lr.plan).splitlines()]
    elif lr.accepted:
        out.append("    accepted")
    else:
        out.append("    rejected, the original op is kept:")
        out += ["      - " + r for r in lr.rejected_because]
    return out


def render_fix_text(report: FixReport, *, written: bool = False) -> str:
    lines = [f"alembic-guard fix · shadow: {report.provider}, PostgreSQL {report.server_version} · "
             f"lock budget {report.budget.max_held_ms:g} ms", ""]
    for fx in report.revisions:
        st = status(fx)
        lines.append(f"{st.upper():17} {fx.revision}  {fx.path}")
        if fx.note:
            lines.append(f"  {fx.note}")
        for lr in fx.rewrites:
            lines += _line_text(lr)
        if fx.proof:
            p = fx.proof
            lines.append("  locks before (SHARE or stronger on existing tables): " +
                         ("; ".join(p.locks_before) or "none"))
            lines.append("  locks after:  " + ("; ".join(p.locks_after) or "none"))
            seeded = ", ".join(f"{t} {n}" for t, n in p.seeded.items())
            lines.append(f"  verification on PostgreSQL {p.server_version} (seeded rows: {seeded or 'none'}): "
                         + p.verdict())
        lines += _still_unsafe_text(fx)
        if fx.diff:
            # not indented: the report as a whole is a patch `git apply` accepts (text around it is ignored)
            lines.append("")
            lines += fx.diff.rstrip("\n").splitlines()
            if written:
                lines.append(f"  written: {fx.path}")
        lines.append("")
    n = len(report.revisions)
    changed = sum(1 for fx in report.revisions if fx.diff)
    unsafe = sum(1 for fx in report.revisions if still_unsafe(fx))
    lines.append(f"{n} revision(s): {changed} changed, {unsafe} still unsafe" + ("" if written or not changed else
                                                            " (dry run; --write writes the files)"))
    return "\n".join(lines) + "\n"


def render_fix_markdown(report: FixReport, *, written: bool = False) -> str:
    out = ["# alembic-guard fix", "",
           f"Shadow: {report.provider}, PostgreSQL {report.server_version}. Lock budget: "
           f"{report.budget.max_held_ms:g} ms for SHARE or stronger on an existing table, no scan or rewrite "
           "under it.", ""]
    for fx in report.revisions:
        out += [f"## {fx.revision} — {status(fx)}", "", f"`{fx.path}`", ""]
        if fx.note:
            out += [fx.note, ""]
        if fx.rewrites:
            out += ["| line | rewrite | result |", "|---|---|---|"]
            for lr in fx.rewrites:
                result = ("accepted" if lr.accepted else
                          f"not rewritten: {lr.refused}" if lr.refused else
                          "rejected: " + "; ".join(lr.rejected_because))
                out.append(f"| {lr.line} | {lr.what.replace('|', '/')} | {result.replace('|', '/')} |")
            out.append("")
            for lr in fx.rewrites:
                out.append(f"- line {lr.line}, why: {lr.trigger}")
            out.append("")
        if fx.proof:
            p = fx.proof
            out += ["**Locks before** (SHARE or stronger on existing tables):", ""]
            out += [f"- {x}" for x in p.locks_before] or ["- none"]
            out += ["", "**Locks after:**", ""]
            out += [f"- {x}" for x in p.locks_after] or ["- none"]
            out += ["", f"**Verification** on PostgreSQL {p.server_version}: " +
                    p.verdict() + ".", ""]
        remaining = still_unsafe(fx)
        if remaining:
            out += ["**Still unsafe:**", ""] + [f"- {r.text()}" for r in remaining] + [""]
        if fx.diff:
            out += ["```diff", fx.diff.rstrip("\n"), "```", ""]
        for lr in fx.rewrites:
            if lr.plan:
                out += [f"### Expand/contract plan for line {lr.line} ({lr.kind})", ""]
                for i, step in enumerate(lr.plan, 1):
                    out += [f"{i}. {step.title}", "", "   ```python"]
                    out += ["   " + ln for ln in step.code.splitlines()]
                    out += ["   ```", ""]
    return "\n".join(out).rstrip("\n") + "\n"
