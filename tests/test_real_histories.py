"""Patterns met in real open-source Alembic histories that broke the check, each in a small
synthetic project run from base to head on the real shadow."""

from __future__ import annotations

from alembic_guard.capture.project import load_project
from alembic_guard.capture.runner import Runner
from alembic_guard.judge import judge
from tests.projects.factory import make_project

URL = "postgresql://app:secret@db.invalid:5432/app"


def trace(ini, shadow, dbname, **kw):
    project = load_project(str(ini))
    runner = Runner(project, shadow, dbname)
    revisions = runner.run(**kw)
    judge(revisions, shadow.version_num)
    return runner, {r.revision: r for r in revisions}


# env.py that runs a query before run_migrations() (an advisory lock), so Alembic's per-migration
# "transaction" is the connection's autobegun one, and commits at the end (warehouse's shape).
ENV_ADVISORY_LOCK = """\
from alembic import context
from sqlalchemy import create_engine, pool, text

options = context.config.get_section(context.config.config_ini_section)
connectable = create_engine(options["sqlalchemy.url"], poolclass=pool.NullPool)
with connectable.connect() as connection:
    connection.execute(text("SET lock_timeout = 4000"))
    context.configure(connection=connection, target_metadata=None, transaction_per_migration=True)
    with context.begin_transaction():
        connection.execute(text("SELECT pg_advisory_lock(hashtext('alembic'))"))
        context.run_migrations()
        context.get_bind().commit()
        connection.execute(text("SELECT pg_advisory_unlock(hashtext('alembic'))"))
"""


def test_failure_after_a_revision_that_commits_itself_is_stepped_over(tmp_path, shadow, dbname):
    # r2 COMMITs its first index itself; its version row then rides in the transaction that r4's
    # failure rolls back, while the index stays: re-applying r2 fails with "already exists".
    ini = make_project(tmp_path, [
        ("r1", "op.create_table('t', sa.Column('id', sa.Integer, primary_key=True), sa.Column('x', sa.Integer))"),
        ("r2", """
            op.create_index('ix_t_x', 't', ['x'])
            op.get_bind().commit()
            with op.get_context().autocommit_block():
                op.create_index('ix_t_x2', 't', ['x', 'id'], postgresql_concurrently=True)
        """),
        ("r3", "op.add_column('t', sa.Column('y', sa.Integer))"),
        ("r4", "op.execute('SELECT * FROM no_such_table')"),
        ("r5", "op.add_column('t', sa.Column('z', sa.Integer))"),
    ], url=URL)
    (tmp_path / "migrations" / "env.py").write_text(ENV_ADVISORY_LOCK)
    runner, revs = trace(ini, shadow, dbname)
    assert runner.tool_errors == []
    assert "no_such_table" in revs["r4"].error
    assert revs["r5"].verdict == "safe" and not revs["r5"].skipped
    assert [s.sql for s in revs["r5"].statements] == ["ALTER TABLE t ADD COLUMN z INTEGER"]


def test_missing_extension_names_it_and_the_way_out(tmp_path, shadow, dbname):
    # pgcrypto / uuid-ossp are missing on some shadows (the embedded server); later revisions go on.
    ini = make_project(tmp_path, [
        ("e1", "op.execute('CREATE EXTENSION IF NOT EXISTS alembic_guard_no_such_ext')"),
        ("e2", "op.create_table('t', sa.Column('id', sa.Integer, primary_key=True))"),
    ], url=URL)
    runner, revs = trace(ini, shadow, dbname)
    assert "lacks extension alembic_guard_no_such_ext" in revs["e1"].error
    assert "--shadow local" in revs["e1"].error
    assert revs["e2"].verdict == "safe" and runner.tool_errors == []


def test_statement_after_op_execute_commit_is_outside_a_transaction(tmp_path, shadow, dbname):
    # An old idiom: op.execute("COMMIT") ends Alembic's transaction on the server; psycopg2 still
    # believes it is in one and sends no BEGIN, so CONCURRENTLY runs (and succeeds) outside a block.
    ini = make_project(tmp_path, [
        ("c1", "op.create_table('t', sa.Column('id', sa.Integer, primary_key=True), sa.Column('x', sa.Integer))"),
        ("c2", """
            op.execute('COMMIT')
            op.execute('CREATE INDEX CONCURRENTLY ix_t_x ON t (x)')
        """),
    ], url="postgresql+psycopg2://app:secret@db.invalid:5432/app")
    runner, revs = trace(ini, shadow, dbname)
    commit, create = revs["c2"].statements
    assert commit.in_transaction and not create.in_transaction
    assert create.observation.error is None and not revs["c2"].error
    assert "concurrently-in-transaction" not in {f.rule for f in revs["c2"].findings}


def test_a_run_that_cannot_go_on_says_so_in_the_report(tmp_path, monkeypatch):
    # Runner.tool_errors (the run stopped after a failure) must reach the report, not vanish.
    from alembic_guard import check as check_mod

    class StuckRunner:
        def __init__(self, *a, **kw):
            self.tool_errors = []
            self.notes = []

        def run(self, *a, **kw):
            self.tool_errors.append("could not continue after revision r1 failed: boom")
            return []

    ini = make_project(tmp_path, [("r1", "pass")], url=URL)
    monkeypatch.setattr(check_mod, "Runner", StuckRunner)
    report = check_mod.run_check(check_mod.CheckOptions(config_file=str(ini)))
    assert report.tool_errors == ["could not continue after revision r1 failed: boom"]
    assert report.to_json()["tool_errors"] == report.tool_errors
