"""Baseline files (``check --write-baseline FILE``, ``check --baseline FILE``): accept today's
findings so a team adopting the tool on an old history fails only on new ones.

Each finding is keyed by what it is about, never by where: its revision id, rule id, table, and the
fingerprint of its statement's SQL (libpg_query's, via ``pglast.parser.fingerprint``: the statement's
parse tree without constants, so whitespace, case, comments and literal values do not matter). Line
numbers are not part of the key: editing another revision, or adding lines above the statement in
the same one, does not reopen a finding; changing the statement itself does. Identical keys (the
same statement twice in a revision) are counted: a third copy is a new finding.

A baselined finding is marked ``suppressed = "baseline"``: it stays in the JSON report, but counts
for neither the verdict nor the exit status. A failing revision (verdict ``error``) and a statement
the trace did not see (verdict ``unknown``) are not findings a baseline can accept.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from . import __version__
from .errors import GuardError
from .model import Finding, RevisionTrace

BASELINE = "baseline"  # Finding.suppressed of a finding the baseline accepts
FORMAT_VERSION = 1
UNACCEPTABLE = {"revision-fails"}  # the verdict is "error" whatever its findings

Key = tuple[str, str, str, str]  # revision, rule, table ("" for none), fingerprint


def sql_fingerprint(sql: str) -> str:
    """libpg_query's fingerprint of ``sql`` (constants and formatting ignored); for SQL that does
    not parse, a hash of its whitespace-normalized text."""
    from pglast.parser import fingerprint

    try:
        return fingerprint(sql)
    except Exception:
        return "text:" + hashlib.sha256(" ".join(sql.split()).encode()).hexdigest()[:16]


def finding_key(f: Finding, rev: RevisionTrace) -> Key:
    """The finding's identity across edits that do not touch its statement (see the module docstring)."""
    st = None
    if f.statement_index is not None and 0 <= f.statement_index < len(rev.statements):
        st = rev.statements[f.statement_index]
    if st is not None:
        fp = sql_fingerprint(st.sql)
    else:  # about the revision, not one statement: its message, numbers (lines, sizes) left out
        fp = "msg:" + hashlib.sha256(re.sub(r"\d+", "#", f.message).encode()).hexdigest()[:16]
    return (rev.revision, f.rule, f.table or "", fp)


def _acceptable(f: Finding) -> bool:
    return f.rule not in UNACCEPTABLE and f.suppressed in (None, BASELINE)


@dataclass
class Baseline:
    path: str
    keys: Counter = field(default_factory=Counter)

    def __len__(self) -> int:
        return sum(self.keys.values())


def _relpath(path: str | None, root: Path | None) -> str | None:
    if not path:
        return None
    try:
        return os.path.relpath(path, root) if root else path
    except ValueError:
        return path


def write_baseline(path: str | Path, revisions: list[RevisionTrace], root: Path | None = None) -> Baseline:
    """Write every finding of ``revisions`` not suppressed inline (all severities) to ``path``;
    returns the baseline written. ``root``: what the files' paths are written relative to."""
    entries: list[dict[str, Any]] = []
    baseline = Baseline(path=str(path))
    for rev in revisions:
        for f in rev.findings:
            if not _acceptable(f):
                continue
            key = finding_key(f, rev)
            baseline.keys[key] += 1
            entries.append({"revision": key[0], "rule": key[1], "table": key[2] or None, "fingerprint": key[3],
                            "severity": f.severity, "path": _relpath(f.path, root), "line": f.line,
                            "message": f.message})
    doc = {"format_version": FORMAT_VERSION, "tool": f"alembic-guard {__version__}",
           "about": "Findings accepted by `alembic-guard check --baseline`; keyed by revision, rule, table and "
                    "statement fingerprint (path, line and message are for people, not matched). Regenerate "
                    "with `alembic-guard check --write-baseline`.",
           "findings": entries}
    try:
        Path(path).write_text(json.dumps(doc, indent=2, ensure_ascii=False) + "\n")
    except OSError as exc:
        raise GuardError(f"cannot write the baseline: {exc.strerror}.", path=str(path)) from exc
    return baseline


def read_baseline(path: str | Path) -> Baseline:
    """Read a baseline file; GuardError naming the file when it is missing or malformed."""
    p = Path(path)
    try:
        doc = json.loads(p.read_text())
    except FileNotFoundError:
        raise GuardError("no such baseline file.", path=str(p),
                         hint="Write one with `alembic-guard check --write-baseline FILE`.") from None
    except OSError as exc:
        raise GuardError(f"cannot read the baseline: {exc.strerror}.", path=str(p)) from exc
    except json.JSONDecodeError as exc:
        raise GuardError(f"the baseline is not valid JSON: {exc.msg}.", path=str(p), line=exc.lineno) from exc
    if not isinstance(doc, dict) or not isinstance(doc.get("findings"), list):
        raise GuardError("not an alembic-guard baseline (no \"findings\" list).", path=str(p))
    if doc.get("format_version", FORMAT_VERSION) != FORMAT_VERSION:
        raise GuardError(f"baseline format_version {doc.get('format_version')!r} is not supported "
                         f"(this alembic-guard reads {FORMAT_VERSION}).", path=str(p))
    baseline = Baseline(path=str(p))
    for i, e in enumerate(doc["findings"]):
        if not isinstance(e, dict) or not all(isinstance(e.get(k), str) for k in ("revision", "rule", "fingerprint")):
            raise GuardError(f"baseline entry {i} lacks revision, rule or fingerprint.", path=str(p))
        baseline.keys[(e["revision"], e["rule"], e.get("table") or "", e["fingerprint"])] += 1
    return baseline


def apply_baseline(baseline: Baseline, revisions: list[RevisionTrace]) -> tuple[int, int]:
    """Mark the findings the baseline accepts ``suppressed = "baseline"``; returns (accepted,
    stale): how many findings it accepted and how many of its entries for these revisions matched
    none (entries of revisions not traced, as with ``--from``, are not stale)."""
    left = Counter(baseline.keys)
    accepted = 0
    for rev in revisions:
        for f in rev.findings:
            if f.suppressed is not None or f.rule in UNACCEPTABLE:
                continue
            key = finding_key(f, rev)
            if left[key] > 0:
                left[key] -= 1
                f.suppressed = BASELINE
                accepted += 1
    traced = {rev.revision for rev in revisions}
    return accepted, sum(n for key, n in left.items() if n > 0 and key[0] in traced)


def baseline_step(revisions: list[RevisionTrace], *, baseline: Baseline | None, write: str | None,
                  root: Path | None) -> list[str]:
    """``check``'s baseline stage, after the judge and before any --changed-since filter: write the
    baseline when asked (it then replaces ``baseline``), apply it; returns the report's notes."""
    notes = []
    if write:
        baseline = write_baseline(write, revisions, root)
        notes.append(f"wrote the baseline {write}: {len(baseline)} finding(s) accepted from now on")
    if baseline is None:
        return notes
    accepted, stale = apply_baseline(baseline, revisions)
    if accepted and not write:
        notes.append(f"{accepted} finding(s) accepted by the baseline {baseline.path}: shown as suppressed, "
                     f"not counted")
    if stale:
        notes.append(f"{stale} entr{'y' if stale == 1 else 'ies'} of the baseline {baseline.path} match no "
                     f"finding any more (fixed, or the statement changed); refresh it with --write-baseline")
    return notes
