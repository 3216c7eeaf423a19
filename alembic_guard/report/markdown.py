"""Markdown report, fit for a pull-request comment.

The first screen says what the reviewer must do: the counts, a table of only the revisions that are
not safe, the worst finding with its safe alternative, and the coverage line; safe revisions are one
line (a collapsed list when there are many). Details follow, one collapsed ``<details>`` block per
revision that has something to show. The whole stays under ``BUDGET`` characters (GitHub refuses a
comment over 65,536): when it would not, the details of the least severe revisions go first (then
shorter forms of the summary), and the last line gives the command that prints everything.
"""

from __future__ import annotations

from itertools import groupby

from ..model import Finding, Report, RevisionTrace
from .common import (
    SEVERITY_RANK,
    VERDICT_RANK,
    active,
    check_command,
    coverage_line,
    finding_counts,
    lock_summary,
    relpath,
    revision_coverage,
    shadow_line,
    summary_line,
    worst_finding,
)

ICON = {"safe": "✅", "unsafe": "❌", "unknown": "❔", "error": "⚠️"}
LIMIT = 65_536  # GitHub's limit on a comment body
BUDGET = 60_000  # what we allow ourselves (characters), leaving room for a bot's own header
FIX_LINES = 40  # longest safe alternative shown on the first screen


def _cell(text: str, limit: int | None = None) -> str:
    text = text.replace("|", "\\|").replace("\n", " ").replace("\r", " ")
    if limit and len(text) > limit:
        text = text[: limit - 1].rstrip() + "…"
    return text


def _title(rev: RevisionTrace) -> str:
    return rev.doc.splitlines()[0].strip() if rev.doc and rev.doc.strip() else ""


def _code(text: str, lang: str = "python", indent: str = "") -> list[str]:
    fence = "````" if "```" in text else "```"
    return [f"{indent}{fence}{lang}"] + [indent + ln for ln in text.splitlines()] + [f"{indent}{fence}"]


def _worst(rev: RevisionTrace) -> Finding | None:
    found = active(rev.findings)
    return max(found, key=lambda f: SEVERITY_RANK.get(f.severity, 0)) if found else None


def _finding_line(f: Finding, limit: int | None = None) -> str:
    where = f" line {f.line}" if f.line else ""
    docs = f" ([PostgreSQL docs]({f.docs}))" if f.docs and not limit else ""
    return f"- **{f.severity}** `{f.rule}`{where}: {_cell(f.message, limit)}{docs}"


def _summary(report: Report, *, compact: int) -> list[str]:
    """The first screen. ``compact`` 0: full; 1: no message column; 2: ids only; 3: counts only."""
    counts = {v: 0 for v in VERDICT_RANK}
    for r in report.revisions:
        counts[r.verdict] += 1
    fc = finding_counts(report)
    worst_verdict = max((r.verdict for r in report.revisions), key=VERDICT_RANK.get, default="safe")
    lines = [f"## alembic-guard: {summary_line(report)}", ""]
    todo = [r for r in report.revisions if r.verdict != "safe"]
    if todo:
        why = [f"{counts[v]} {v}{note}" for v, note in (
            ("unsafe", ""), ("unknown", " (a statement the trace did not see)"),
            ("error", " (failed on the shadow or not run)")) if counts[v]]
        lines.append(f"{ICON[worst_verdict]} **{len(todo)} revision(s) need a look**: {', '.join(why)} · "
                     f"findings: {fc['error']} error, {fc['warning']} warning, {fc['info']} info")
    else:
        lines.append(f"✅ **every revision is safe** · findings: {fc['warning']} warning, {fc['info']} info")
    lines += ["", f"<sub>{coverage_line(report)} · alembic-guard {report.tool_version} · {shadow_line(report)}</sub>",
              ""]
    for err in report.tool_errors[:5]:
        lines += [f"> **tool error:** {_cell(err, 500)}", ""]
    if todo and compact <= 1:
        if compact == 0:
            lines += ["| | Revision | Message | Findings | Worst finding |", "|---|---|---|---|---|"]
        else:
            lines += ["| | Revision | Findings | Worst finding |", "|---|---|---|---|"]
        for rev in todo:
            w = _worst(rev)
            worst = f"`{w.rule}`" + (f" line {w.line}" if w.line else "") if w else _cell(
                "not seen: " + "; ".join(rev.unseen) if rev.unseen else (rev.skipped or rev.error or ""), 60)
            msg = f" {_cell(_title(rev), 60)} |" if compact == 0 else ""
            lines.append(f"| {ICON[rev.verdict]} | `{rev.revision}` |{msg} {len(active(rev.findings))} | {worst} |")
        lines.append("")
    elif todo and compact == 2:
        for verdict in ("error", "unsafe", "unknown"):
            ids = [r.revision for r in todo if r.verdict == verdict]
            if ids:
                lines += [f"{ICON[verdict]} {verdict}: " + ", ".join(f"`{i}`" for i in ids), ""]
    safe = [r for r in report.revisions if r.verdict == "safe"]
    noted = sum(1 for r in safe if active(r.findings))
    label = f"✅ {len(safe)} safe" + (f" ({noted} with warnings or notes, in the details)" if noted else "")
    ids = ", ".join(f"`{r.revision}`" for r in safe)
    if safe and compact <= 2 and len(safe) <= 10:
        lines += [f"{label}: {ids}", ""]
    elif safe and compact <= 1:
        lines += [f"<details><summary>{label}</summary>", "", ids, "", "</details>", ""]
    elif safe:
        lines += [label, ""]
    hit = worst_finding(report)
    if hit:
        rev, f = hit
        lines += [f"**Worst finding:** **{f.severity}** `{f.rule}` in `{rev.revision}` "
                  f"(`{relpath(f.path or rev.path)}`" + (f" line {f.line}" if f.line else "") + f"): "
                  f"{_cell(f.message, 1000 if compact else None)}"
                  + (f" ([PostgreSQL docs]({f.docs}))" if f.docs else ""), ""]
        if f.fix and compact <= 2:
            fix = f.fix.splitlines()
            shown = "\n".join(fix[:FIX_LINES]) + ("\n# … (see the details below)" if len(fix) > FIX_LINES else "")
            lines += ["Safe alternative:", ""] + _code(shown) + [""]
    return lines


def _details(rev: RevisionTrace, *, compact: bool) -> list[str]:
    """One revision's collapsed block ([] when it has nothing beyond its verdict)."""
    found = active(rev.findings)
    cov_lines = revision_coverage(rev)
    suppressed = [f for f in rev.findings if f.suppressed]
    locks = lock_summary(rev)
    if not found and not rev.skipped and not rev.error and len(cov_lines) == 1 and not suppressed:
        return []
    n = len(found)
    head = f"{ICON[rev.verdict]} <code>{rev.revision}</code> {_cell(_title(rev), 100)}".rstrip()
    lines = [f"<details><summary>{head} · {rev.verdict} · {n} finding{'s' if n != 1 else ''}</summary>", "",
             f"`{relpath(rev.path)}`", ""]
    if rev.skipped:
        lines += [f"> {_cell(rev.skipped)}", ""]
    lines += [f"<sub>coverage: {cov_lines[0]}</sub>", ""]
    if len(cov_lines) > 1:
        lines += [f"- {_cell(t, 300 if compact else None)}" for t in cov_lines[1:]] + [""]
    for f in found:
        lines.append(_finding_line(f, 300 if compact else None))
        if f.fix and not compact:
            lines += ["", "  Safe alternative:", ""] + _code(f.fix, indent="  ") + [""]
    if found and lines[-1]:
        lines.append("")
    for f in suppressed:
        lines.append(f"- <sub>suppressed `{f.rule}` line {f.line}: {_cell(f.suppressed or '', 200)}</sub>")
    if suppressed:
        lines.append("")
    if locks and not compact:
        lines += ["<sub>Locks seen on the shadow: " + _cell("; ".join(locks)) + "</sub>", ""]
    lines += ["</details>", ""]
    return lines


def _size(lines: list[str]) -> int:
    return sum(len(ln) + 1 for ln in lines)


def render_markdown(report: Report, *, budget: int = BUDGET) -> str:
    footer_room = 600  # the "left out" line and the notes' share are kept below
    for compact in range(4):
        head = _summary(report, compact=compact)
        if _size(head) <= budget * 0.8 or compact == 3:
            break
    if _size(head) > budget - footer_room:  # counts only and still too long: cut it hard
        text = "\n".join(head)[: budget - footer_room]
        head = [text[: text.rfind("\n")] if "\n" in text else text, "", "…"]
    notes = [f"> **note:** {_cell(n, 500)}" for n in report.notes[:10]]
    left = budget - _size(head) - footer_room - _size(notes)

    # Details, most severe revisions first, until the budget is spent; shown in history order. Tier by
    # tier (verdict, then worst finding): first every revision's short form (findings without their
    # safe alternative), then the full form where it still fits, before the next tier gets anything.
    def tier(i: int) -> tuple[int, int]:
        rev = report.revisions[i]
        return (-VERDICT_RANK[rev.verdict],
                -max((SEVERITY_RANK.get(f.severity, 0) for f in active(rev.findings)), default=-1))

    chosen: dict[int, list[str]] = {}
    dropped = shortened = 0
    for _, group in groupby(sorted(range(len(report.revisions)), key=lambda i: (tier(i), i)), key=tier):
        group = list(group)
        full = {}
        for i in group:
            block = _details(report.revisions[i], compact=True)
            if not block:
                continue
            if _size(block) > left:
                dropped += 1
                continue
            chosen[i] = block
            left -= _size(block)
            full[i] = _details(report.revisions[i], compact=False)
        for i, block in full.items():
            extra = _size(block) - _size(chosen[i])
            if extra <= left:
                chosen[i] = block
                left -= extra
            else:
                shortened += 1
    body = list(head)
    if chosen:
        body += ["### Details", ""]
        for i in sorted(chosen):
            body += chosen[i]
    body += [ln for note in notes for ln in (note, "")]
    if dropped or shortened or compact or len(report.tool_errors) > 5 or len(report.notes) > 10:
        what = (f"the details of {dropped} revision(s)" if dropped
                else f"the safe alternatives of {shortened} revision(s)" if shortened else "some details")
        body.append(f"<sub>{what} left out to keep this comment under {LIMIT:,} characters; "
                    f"`{check_command(report)}` prints everything (or `-f json -o report.json`).</sub>")
    body.append("")
    return "\n".join(body)
