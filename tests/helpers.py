"""Build a throwaway Alembic project from revision bodies, trace it on the shadow, judge it.

Used by tests/rules: every rule is tested through a real Alembic revision run on the real shadow
PostgreSQL (the session ``shadow`` fixture, one database per test).

    revs = run_revisions(shadow, dbname, tmp_path, [
        'op.create_index("ix_t_a", "t", ["a"])',
    ], setup="CREATE TABLE t (id int PRIMARY KEY, a int); INSERT INTO t VALUES (1, 1)")

``setup`` SQL runs before the first revision (outside Alembic), so what it creates is
"pre-existing" for every revision. Each body is the text of ``upgrade()`` (``op`` and ``sa`` are
imported); revisions are chained ``r1`` → ``r2`` → …
"""

from __future__ import annotations

from pathlib import Path

import psycopg

from alembic_guard.capture.project import load_project
from alembic_guard.capture.runner import Runner
from alembic_guard.judge import judge
from alembic_guard.model import Finding, RevisionTrace
from alembic_guard.rules.base import design_rule_ids
from tests.projects.factory import make_project

# The standard schema of tests/rules (one row per table: empty tables show the same flags).
SCHEMA = """
CREATE TABLE parent (id int PRIMARY KEY, name text);
CREATE TABLE t (id int PRIMARY KEY, a int, b varchar(100), pid int, n numeric(10, 2), j json,
                ts timestamp, note text);
CREATE INDEX t_a ON t (a);
CREATE TABLE child (id int PRIMARY KEY, parent_id int REFERENCES parent (id));
CREATE TYPE mood AS ENUM ('ok', 'sad');
"""
SEED = """
INSERT INTO parent VALUES (1, 'x');
INSERT INTO t VALUES (1, 1, 'x', 1, 1.5, '{}', '2026-01-01 10:00', 'n');
INSERT INTO child VALUES (1, 1);
"""


def write_project(root: Path, bodies: list[str], *, transaction_per_migration: bool = True) -> Path:
    """Write alembic.ini, env.py and one revision file per body (``r1`` → ``r2`` → …) under ``root``;
    return alembic.ini."""
    return make_project(root, [(f"r{i}", body) for i, body in enumerate(bodies, 1)], env="ini_no_logging",
                        url="postgresql+psycopg://nobody@invalid.invalid/nothing",
                        per_migration=transaction_per_migration)


#: rules the lock-safety tests leave out: the schema design rules (tests/rules/test_schema_design.py
#: runs them), which the generated revisions trip by construction (downgrade() is ``pass``,
#: ``sa.Integer`` keys, ``sa.String(n)``)
BY_CONSTRUCTION = design_rule_ids()


def run_revisions(shadow, dbname: str, tmp_path: Path, bodies: list[str], *, setup: str = "",
                  transaction_per_migration: bool = True, disabled: tuple[str, ...] = BY_CONSTRUCTION) \
        -> list[RevisionTrace]:
    """Run ``setup`` SQL, then trace every revision body on the shadow and judge it (without the
    ``disabled`` rules)."""
    if setup:
        with psycopg.connect(shadow.conninfo(dbname), autocommit=True) as c:
            c.execute(setup)
    ini = write_project(tmp_path, bodies, transaction_per_migration=transaction_per_migration)
    project = load_project(str(ini))
    revisions = Runner(project, shadow, dbname).run()
    judge(revisions, shadow.version_num, disabled=disabled)
    return revisions


def run_one(shadow, dbname: str, tmp_path: Path, body: str, *, setup: str = "",
            disabled: tuple[str, ...] = BY_CONSTRUCTION) -> RevisionTrace:
    """Run a single revision body; return its trace (asserting it ran without error)."""
    (rev,) = run_revisions(shadow, dbname, tmp_path, [body], setup=setup, disabled=disabled)
    assert rev.error is None, rev.error
    return rev


def findings(rev: RevisionTrace, rule: str | None = None, severity: str | None = None) -> list[Finding]:
    return [f for f in rev.findings
            if (rule is None or f.rule == rule) and (severity is None or f.severity == severity)]


def rules_fired(rev: RevisionTrace, severity: str | None = None) -> set[str]:
    return {f.rule for f in findings(rev, severity=severity)}


def describe(rev: RevisionTrace) -> str:
    """A readable dump for assertion messages."""
    lines = [f"{rev.revision}: {rev.verdict} {rev.error or ''}"]
    for st in rev.statements:
        o = st.observation
        lines.append(f"  [{st.index}] {st.sql[:90]!r} tx={st.in_transaction} rewritten={o.rewritten} "
                     f"scans={o.seq_scans} locks={[(lk.relation, lk.mode, lk.preexisting) for lk in o.locks]} "
                     f"err={o.sqlstate}")
    for f in rev.findings:
        lines.append(f"  {f.severity} {f.rule}: {f.message}")
    return "\n".join(lines)
