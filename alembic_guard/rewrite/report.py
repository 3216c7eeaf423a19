"""Render a FixReport: terminal text or Markdown (before/after diff, locks, verification)."""

from __future__ import annotations

from .fix import FixReport, LineRewrite, RevisionFix
from .plans import render_plan


def status(fx: RevisionFix) -> str:
    """``rewritten`` / ``partly rewritten`` / ``refused`` / ``unchanged`` / ``not fixed``."""
    if fx.note and not fx.rewrites:
        return "not fixed" if fx.note.startswith("not fixed") else "unchanged"
    accepted = [r for r in fx.rewrites if r.accepted]
    if accepted and len(accepted) == len(fx.rewrites):
        return "rewritten"
    if accepted:
        return "partly rewritten"
    return "refused"


def remaining_unsafe(report: FixReport) -> bool:
    """True when a requested revision still has an unsafe line after the fix (refused, rejected)."""
    return any(status(fx) in ("refused", "partly rewritten", "not fixed") for fx in report.revisions)


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
        if fx.diff:
            # not indented: the report as a whole is a patch `git apply` accepts (text around it is ignored)
            lines.append("")
            lines += fx.diff.rstrip("\n").splitlines()
            if written:
                lines.append(f"  written: {fx.path}")
        lines.append("")
    n = len(report.revisions)
    changed = sum(1 for fx in report.revisions if fx.diff)
    lines.append(f"{n} revision(s): {changed} changed" + ("" if written or not changed else
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
