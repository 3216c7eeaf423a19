"""Does each revision's ``downgrade()`` bring back the schema its ``upgrade()`` started from?

For every revision asked for, on a scratch database of the shadow (not the traced one): the schema
is brought to the revision's parent(s) (``alembic upgrade``, untraced), its catalog read
(schema_compare.read_catalog), the revision upgraded, then downgraded (``command.downgrade`` through
the project's own env.py, connections redirected to the shadow exactly as for the upgrade:
Runner._alembic), and the catalog read again. The two catalogs are compared
(schema_compare.catalog_differences); the differences, or the downgrade's error with its file and
line, become a :class:`DowngradeResult` on the RevisionTrace (``rev.downgrade``) that the rule
``downgrade-does-not-restore-schema`` reports.

Not compared: a column's position. ``ALTER TABLE … ADD COLUMN`` always appends (PostgreSQL manual,
"ALTER TABLE": "the new column is added at the end"), so the faithful downgrade of a ``drop_column``
cannot put the column back where it was; reporting it would fire on every such revision.

Cost, per checked revision: two Alembic commands (its upgrade — which also re-applies the parent a
clean round trip downgraded — and its downgrade) and two catalog reads (the catalog before the upgrade
is the one read after the parent's). Revisions are taken in history order in one database, so a
linear history is replayed once; a database is started afresh only after a downgrade that left the
schema different (the next upgrade could not run on it) or when the next revision is on another
branch. Measured on examples/shop (11 revisions checked, 2 cores under load): 4.7-7.5 s against
2-5 s for the traced check, most of it Alembic's own per-command start (ScriptDirectory and env.py,
~0.2 s each). Which revisions are checked is :func:`revisions_to_check`'s decision (``check-downgrades``).
"""

from __future__ import annotations

import ast as pyast
import contextlib
import os
import time
from dataclasses import dataclass, field
from pathlib import Path

from alembic import command

from ..alembic_api import down_revisions
from ..errors import GuardError
from ..model import RevisionTrace
from ..schema_compare import CatalogSnapshot, Difference, catalog_differences, read_catalog, show
from ..shadow import ShadowServer, scratch_database
from .extensions import ExtensionShims
from .per_revision import transaction_per_revision
from .project import Project
from .redirect import redirect_connections
from .runner import Runner, _cwd, _quiet_alembic

#: ``check-downgrades`` / ``--check-downgrades``: True, False or "auto" (the default, see
#: :func:`revisions_to_check`)
AUTO = "auto"

# Column order is not something a downgrade can restore (see the module docstring).
IGNORED_FACTS = {"columns": {"position"}}

_KINDS = {"r": "table", "p": "partitioned table", "v": "view", "m": "materialized view", "S": "sequence",
          "f": "foreign table"}


@dataclass
class DowngradeResult:
    """What running a revision's downgrade on the shadow showed.

    ``differences``: sentences naming what the downgrade leaves different from the schema before
    the upgrade (``"index ix_t_a is left behind"``); ``fixes``: Alembic lines that would undo them,
    where one is obvious. ``error`` / ``error_path`` / ``error_line``: the downgrade raised (the
    message, the innermost revision-file frame). ``irreversible``: it raised from a ``raise``
    statement of the revision's own ``downgrade()``, i.e. it declares itself irreversible (not a
    defect). ``line``: the line of ``def downgrade()``. ``duration_ms``: the downgrade's run time.
    """

    line: int | None = None
    differences: list[str] = field(default_factory=list)
    fixes: list[str] = field(default_factory=list)
    error: str | None = None
    error_path: str | None = None
    error_line: int | None = None
    irreversible: bool = False
    duration_ms: float = 0.0

    @property
    def restores(self) -> bool:
        return not (self.differences or (self.error and not self.irreversible))


def revisions_to_check(mode: bool | str | None, revisions: list[RevisionTrace], *,
                       changed: set[str] | None = None, from_rev: str | None = None) -> list[str]:
    """Ids of the revisions whose downgrade is run, in ``revisions``' order.

    ``mode`` True: every revision that ran statements on the shadow; False: none; "auto"/None: the revisions
    the report is about when it is about a few — with ``changed`` (``--changed-since``) those, with
    ``from_rev`` (``--from``) every traced one — and none on a full-history check, where it would
    replay the whole history once more (``check-downgrades = true`` asks for it)."""
    # a revision that ran no statement has nothing to undo (and no statement to report on)
    ran = [r.revision for r in revisions if not r.error and not r.skipped and r.path and r.statements]
    if mode is False:
        return []
    if mode is True:
        return ran
    if changed is not None:
        return [r for r in ran if r in changed]
    return ran if from_rev else []


def downgrade_lines(path: str) -> tuple[int | None, list[tuple[int, int]]]:
    """The line of ``def downgrade()`` in the revision file ``path`` and the line spans of the
    ``raise`` statements inside it; ``(None, [])`` when there is none or the file does not parse."""
    try:
        tree = pyast.parse(Path(path).read_text(encoding="utf-8"))
    except (OSError, SyntaxError, ValueError):
        return None, []
    fn = next((n for n in tree.body if isinstance(n, pyast.FunctionDef) and n.name == "downgrade"), None)
    if fn is None:
        return None, []
    raises = [(n.lineno, n.end_lineno or n.lineno) for n in pyast.walk(fn) if isinstance(n, pyast.Raise)]
    return fn.lineno, raises


def check_downgrades(project: Project, server: ShadowServer, revisions: list[RevisionTrace], wanted: list[str],
                     *, verbose: bool = False) -> list[str]:
    """Run the downgrade of each revision in ``wanted`` on scratch databases of ``server`` and set
    ``rev.downgrade`` (a DowngradeResult) on its RevisionTrace in ``revisions``. A revision whose
    downgrade() does nothing is left out (rule missing-downgrade reports it). Returns notes for the
    report (how many were checked, in how many ms; what could not be checked). Raises GuardError
    only for what stops the upgrade as well (a missing driver, redirect problems)."""
    from ..rules.missing_downgrade import _empty_downgrade

    by_id = {r.revision: r for r in revisions}
    todo = []
    for sc in project.ordered():
        rev = by_id.get(sc.revision)
        if rev is None or sc.revision not in wanted or not rev.path:
            continue
        with contextlib.suppress(OSError):
            if _empty_downgrade(rev.path, os.path.getmtime(rev.path)) is not None:
                continue  # nothing to run: missing-downgrade
        todo.append(sc)
    notes: list[str] = []
    merges = [sc.revision for sc in todo if len(_parents(sc)) > 1]
    if merges:
        # Alembic walks no single step down from a merge point ("Ambiguous walk" for -1, and a
        # parent as the target takes the other branch down too): left unchecked rather than misjudged
        todo = [sc for sc in todo if sc.revision not in merges]
        notes.append(f"downgrade check: merge revision(s) {', '.join(merges)} not checked (Alembic has no "
                     "one-step downgrade of a merge point)")
    if not todo:
        return notes
    checked = 0
    t0 = time.perf_counter()
    shims = ExtensionShims()
    with _cwd(Path(project.config.config_file_name or ".").resolve().parent), _quiet_alembic(verbose), \
            transaction_per_revision():
        shims.install()
        try:
            while todo:
                with scratch_database(server) as db, redirect_connections(server, db, project.version_dirs()):
                    runner = Runner(project, server, db, verbose=verbose)
                    fresh = True
                    known: dict[str, CatalogSnapshot] = {}  # revision → catalog after its upgrade, here
                    while todo:
                        sc = todo[0]
                        applied = runner._ancestors_applied()
                        foreign = applied - runner._ancestors_of(sc.revision)
                        if foreign and not fresh:
                            break  # another branch is applied here: downgrading would not be this revision's alone
                        todo.pop(0)
                        fresh = False
                        clean, note = _round_trip(runner, sc, by_id[sc.revision], applied, known)
                        checked += by_id[sc.revision].downgrade is not None
                        if note:
                            notes.append(note)
                        if not clean:
                            break  # the schema is not what the next upgrade expects: start afresh
        finally:
            shims.remove()
    ms = (time.perf_counter() - t0) * 1000
    summary = (f"downgrade check: {checked} revision(s) upgraded then downgraded on the shadow, schema "
               f"compared with the one before the upgrade ({ms:.0f} ms)")
    notes.insert(0, summary)
    return notes


def _round_trip(runner: Runner, sc, rev: RevisionTrace, applied: set[str],
                known: dict[str, CatalogSnapshot]) -> tuple[bool, str | None]:
    """Upgrade then downgrade ``sc`` on the runner's database; set ``rev.downgrade``. ``applied``:
    the revisions applied there now; ``known``: catalogs after earlier upgrades in this database
    (a clean round trip leaves the parent's schema as it was, so its catalog is not read twice; the
    catalog after ``sc``'s upgrade is added). Returns (the database is at ``sc`` or at its parents
    with the schema as expected, a note or None)."""
    conninfo = runner.server.conninfo(runner.dbname)
    parents = list(down_revisions(sc))
    try:
        for parent in parents:
            # a parent downgraded by the last round trip comes back with sc's own upgrade below
            if parent not in applied and not (len(parents) == 1 and parent in known):
                runner._reapply(parent)
        before = known[parents[0]] if len(parents) == 1 and parents[0] in known else read_catalog(conninfo)
        runner._upgrade(sc.revision)
        after = known[sc.revision] = read_catalog(conninfo)
    except GuardError:
        raise
    except Exception as exc:  # noqa: BLE001 - it ran in the trace; here it is only not checked
        return False, (f"downgrade check: revision {sc.revision} was not checked: its upgrade failed on the "
                       f"second run ({_message(exc)})")
    line, raises = downgrade_lines(rev.path or "")
    result = DowngradeResult(line=line)
    down = _parents(sc)  # the target: down_revision, not depends_on (which stays applied)
    target = down[0] if down else "base"
    t = time.perf_counter()
    try:
        runner._alembic(command.downgrade, target)
    except GuardError:
        raise
    except Exception as exc:  # noqa: BLE001 - `alembic downgrade` would fail the same way
        result.duration_ms = (time.perf_counter() - t) * 1000
        origin = runner.files.from_traceback(exc.__traceback__)
        result.error = _message(exc)
        if origin:
            _, result.error_path, result.error_line = origin
            result.irreversible = os.path.realpath(origin[1]) == os.path.realpath(rev.path or "") and any(
                a <= origin[2] <= b for a, b in raises)
        rev.downgrade = result
        # a transactional downgrade rolled back: the schema is still the upgrade's
        now = read_catalog(conninfo)
        return not catalog_differences(after, now, ignore_facts=IGNORED_FACTS), None
    result.duration_ms = (time.perf_counter() - t) * 1000
    now = read_catalog(conninfo)
    diffs = catalog_differences(before, now, ignore_facts=IGNORED_FACTS)
    result.differences, result.fixes = describe(diffs, before, now)
    rev.downgrade = result
    return not diffs, None


def _parents(sc) -> tuple[str, ...]:
    """``down_revision`` as a tuple (depends_on left out)."""
    down = sc.down_revision
    return () if down is None else (down,) if isinstance(down, str) else tuple(down)


def _message(exc: BaseException) -> str:
    """PostgreSQL's message for a database error (without SQLAlchemy's [SQL: …] tail), else the
    exception's first line with its type."""
    orig = getattr(exc, "orig", None)
    text = str(orig or exc).strip().split("\n[SQL:")[0].strip()
    if orig is None:
        text = f"{type(exc).__name__}: {text}" if text else type(exc).__name__
    return text.splitlines()[0] if text else type(exc).__name__


def describe(diffs: list[Difference], before: CatalogSnapshot, after: CatalogSnapshot) -> tuple[list[str], list[str]]:
    """Sentences for the differences between the schema ``before`` an upgrade (``a``) and ``after``
    its downgrade (``b``), and Alembic lines that undo the obvious ones. The parts of a relation that
    is left behind or missing as a whole are not listed again; an index or constraint that comes back
    under another name is one sentence."""
    whole = {d.key for d in diffs if d.section == "relations" and d.kind != "changed"}
    diffs = [d for d in diffs if d.section == "relations" or d.owner is None or d.owner not in whole]
    renamed, diffs = _renames(diffs, before, after)
    sentences, fixes = list(renamed), []
    for d in diffs:
        what = _what(d, before, after)
        if d.kind == "changed" and d.section == "columns" and d.fact == "type":
            sentences.append(f"column {d.label} comes back as {d.b}, was {d.a}")
        elif d.kind == "changed":
            sentences.append(f"{what} {d.label} comes back with {d.fact} {show(d.b)}, was {show(d.a)}")
        elif d.kind == "only_b":
            sentences.append(f"{what} {d.label} is left behind")
            fix = _undo(d, what)
            if fix:
                fixes.append(fix)
        else:
            sentences.append(f"{what} {d.label} is not re-created")
    return sentences, fixes


def _what(d: Difference, before: CatalogSnapshot, after: CatalogSnapshot) -> str:
    """"table", "view", … for a relation (its relkind), else the section's singular."""
    if d.section == "relations":
        facts = before.relations.get(d.key) or after.relations.get(d.key)
        return _KINDS.get(facts[0], "relation") if facts else "relation"
    return d.what


def _same_but_name(section: str, x: Difference, y: Difference, before: CatalogSnapshot,
                   after: CatalogSnapshot) -> bool:
    fx, fy = getattr(before, section)[x.key], getattr(after, section)[y.key]
    if section == "indexes":  # pg_get_indexdef names the index: compare what follows "ON"; the
        # constraint it backs (PRIMARY KEY, UNIQUE) carries the index's name, so is renamed with it
        same_constraint = fx[-1] == fy[-1] or (fx[-1] == x.key[-1] and fy[-1] == y.key[-1])
        return fx[1:-1] == fy[1:-1] and same_constraint and fx[0].partition(" ON ")[2] == fy[0].partition(" ON ")[2]
    return fx == fy


def _renames(diffs: list[Difference], before: CatalogSnapshot, after: CatalogSnapshot) \
        -> tuple[list[str], list[Difference]]:
    """Pairs of a missing and a left-behind constraint (or index) of the same table with the same
    definition: the downgrade re-created it under another name (later revisions that name it fail)."""
    sentences: list[str] = []
    used: set[int] = set()
    for i, x in enumerate(diffs):
        if x.kind != "only_a" or x.section not in ("constraints", "indexes") or x.key[-1] == "<not-null check>":
            continue
        for j, y in enumerate(diffs):
            if j in used or y.kind != "only_b" or y.section != x.section or y.owner != x.owner:
                continue
            if _same_but_name(x.section, x, y, before, after):
                used |= {i, j}
                backs = x.section == "indexes" and before.indexes[x.key][-1] is not None
                if not backs:  # a constraint's index: the constraint's sentence says it
                    sentences.append(f"{x.what} {x.label} comes back named {y.key[-1]}")
                break
    return sentences, [d for k, d in enumerate(diffs) if k not in used]


def _undo(d: Difference, what: str) -> str | None:
    """The Alembic call that removes an object a downgrade left behind, with its names."""
    parts = list(d.key)
    schema = parts.pop(0) if len(parts) > (2 if d.section in ("columns", "constraints") else 1) else None
    kw = f", schema={schema!r}" if schema else ""
    if d.section == "relations" and what == "table":
        return f"op.drop_table({parts[-1]!r}{kw})"
    if d.section == "indexes" and d.owner:
        return f"op.drop_index({parts[-1]!r}, table_name={d.owner[-1]!r}{kw})"
    if d.section == "columns":
        return f"op.drop_column({parts[0]!r}, {parts[1]!r}{kw})"
    if d.section == "constraints" and parts[-1] != "<not-null check>":
        return f"op.drop_constraint({parts[1]!r}, {parts[0]!r}{kw})"
    return None
