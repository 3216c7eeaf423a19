"""Capture and trace through the project's own env.py, for every way env.py finds its database."""

from __future__ import annotations

import pytest

from alembic_guard.capture.project import load_project
from alembic_guard.capture.runner import Runner
from alembic_guard.errors import GuardError
from alembic_guard.judge import judge
from tests.projects.factory import make_project

REVISIONS = [
    ("a1", 'op.create_table("items", sa.Column("id", sa.Integer, primary_key=True), sa.Column("sku", sa.Text))'),
    ("a2", 'op.create_index("ix_items_sku", "items", ["sku"])'),
]


def trace(ini, shadow, dbname, **kw):
    project = load_project(str(ini))
    revisions = Runner(project, shadow, dbname).run(**kw)
    judge(revisions, shadow.version_num)
    return {r.revision: r for r in revisions}


@pytest.mark.parametrize("env,url", [
    ("ini", "postgresql+psycopg://app:secret@db.invalid:5432/app"),
    ("ini", "postgresql+psycopg2://app:secret@db.invalid:5432/app"),
    ("ini", "postgresql://app:secret@db.invalid:5432/app"),
    ("async", "postgresql+asyncpg://app:secret@db.invalid:5432/app"),
    ("env_var", "postgresql+psycopg2://unused@db.invalid/unused"),
    ("shared", "postgresql://unused@db.invalid/unused"),
])
def test_every_env_py_variant_is_traced_on_the_shadow(tmp_path, shadow, dbname, monkeypatch, env, url):
    # The URLs point at a host that does not exist: reaching it would fail the test.
    monkeypatch.setenv("APP_DATABASE_URL", "postgresql+psycopg2://app:secret@db.invalid:5432/app")
    ini = make_project(tmp_path, REVISIONS, env=env, url=url)
    revs = trace(ini, shadow, dbname)
    assert revs["a1"].verdict == "safe"
    assert revs["a2"].verdict == "unsafe"
    st = revs["a2"].statements[0]
    assert st.line == 16 and st.path.endswith("a2.py")
    assert any(lk.relation == "items" and lk.mode == "SHARE" for lk in st.observation.new_locks)


def test_statement_facts_are_recorded(tmp_path, shadow, dbname):
    ini = make_project(tmp_path, [
        ("b1", 'op.create_table("t", sa.Column("id", sa.Integer, primary_key=True), sa.Column("n", sa.Integer))'),
        ("b2", '''
            op.execute("SET lock_timeout = '1500ms'")
            op.alter_column("t", "n", type_=sa.BigInteger)
            op.execute("SELECT 1")
        '''),
    ])
    revs = trace(ini, shadow, dbname)
    set_stmt, alter, select = revs["b2"].statements
    assert alter.observation.lock_timeout_ms == 1500
    assert "t" in alter.observation.rewritten
    lock = next(lk for lk in alter.observation.new_locks if lk.relation == "t")
    assert lock.mode == "ACCESS EXCLUSIVE" and lock.preexisting
    assert lock.held_statements == 2  # held through the SELECT that follows, until COMMIT
    assert select.observation.locks and not select.observation.new_locks
    assert alter.in_transaction


def test_from_applies_earlier_revisions_untraced(tmp_path, shadow, dbname):
    ini = make_project(tmp_path, REVISIONS)
    revs = trace(ini, shadow, dbname, from_rev="a1")
    assert list(revs) == ["a2"]


def test_to_limits_the_range(tmp_path, shadow, dbname):
    ini = make_project(tmp_path, REVISIONS)
    revs = trace(ini, shadow, dbname, to_rev="a1")
    assert list(revs) == ["a1"]


@pytest.mark.parametrize("per_migration", [True, False])
def test_failed_revision_is_reported_and_the_run_goes_on(tmp_path, shadow, dbname, per_migration):
    ini = make_project(tmp_path, [
        ("c1", 'op.create_table("t", sa.Column("id", sa.Integer, primary_key=True))'),
        ("c2", 'op.execute("ALTER TABLE missing ADD COLUMN x int")', "c1"),
        ("c3", 'op.add_column("t", sa.Column("y", sa.Integer))', "c2"),
        ("c4", 'op.create_table("u", sa.Column("id", sa.Integer, primary_key=True))', "c1"),
        ("c5", 'op.execute("ALTER TABLE missing ADD COLUMN z int")', "c3"),
    ], per_migration=per_migration)
    revs = trace(ini, shadow, dbname)
    assert revs["c2"].verdict == "error" and 'relation "missing" does not exist' in revs["c2"].error
    assert revs["c2"].findings[0].rule == "revision-fails" and revs["c2"].findings[0].line == 16
    # stepped over c2: c3 and the independent branch c4 are traced as usual
    assert revs["c3"].verdict == "safe" and revs["c3"].statements
    assert revs["c4"].verdict == "safe" and revs["c4"].statements
    assert len(revs["c1"].statements) == 1  # re-applied after the failure, but traced once
    assert revs["c5"].verdict == "error" and "c2 failed earlier" in revs["c5"].error


def test_single_transaction_projects_attribute_locks_per_revision(tmp_path, shadow, dbname):
    ini = make_project(tmp_path, REVISIONS + [("a3", 'op.add_column("items", sa.Column("x", sa.Integer))')],
                       per_migration=False)
    revs = trace(ini, shadow, dbname)
    # items was created by a1 in the same transaction, yet before a2 started: a2 sees it as existing
    assert revs["a2"].verdict == "unsafe"


def test_missing_driver_is_named(tmp_path, shadow, dbname):
    ini = make_project(tmp_path, REVISIONS, url="postgresql+pg8000://app@db.invalid/app")
    with pytest.raises(GuardError) as info:
        trace(ini, shadow, dbname)
    assert "pg8000" in info.value.paragraph() and "not installed" in info.value.paragraph()


def test_session_timeouts_set_by_an_earlier_revision_do_not_count(tmp_path, shadow, dbname):
    ini = make_project(tmp_path, [
        ("d1", 'op.create_table("t", sa.Column("id", sa.Integer, primary_key=True))'),
        ("d2", '''
            op.execute("SET lock_timeout = '2s'")
            op.add_column("t", sa.Column("a", sa.Integer))
        '''),
        ("d3", 'op.add_column("t", sa.Column("b", sa.Integer))'),
        ("d4", '''
            op.execute("SELECT set_config('lock_timeout', '3s', false)")
            op.add_column("t", sa.Column("c", sa.Integer))
        '''),
    ])
    revs = trace(ini, shadow, dbname)
    assert revs["d2"].statements[1].observation.lock_timeout_ms == 2000
    # d3 deployed alone would run without the timeout d2 left on the session
    assert revs["d3"].statements[0].observation.lock_timeout_ms == 0
    assert revs["d4"].statements[1].observation.lock_timeout_ms == 3000


def test_locks_of_an_earlier_revision_in_one_transaction_are_not_this_revisions(tmp_path, shadow, dbname):
    ini = make_project(tmp_path, [
        ("e1", 'op.create_table("t", sa.Column("id", sa.Integer, primary_key=True), sa.Column("a", sa.Integer))'),
        ("e2", 'op.create_index("ix_t_a", "t", ["a"])'),
    ], per_migration=False)
    revs = trace(ini, shadow, dbname)
    st = revs["e2"].statements[0]
    # env.py asks for one transaction around both; check traces each in its own (as deployed alone,
    # capture/per_revision.py), so e1's ACCESS EXCLUSIVE on t is not held and e2 takes SHARE only
    assert not any(lk.mode == "ACCESS EXCLUSIVE" and lk.relation == "t" for lk in st.observation.locks)
    assert [lk.mode for lk in st.own_locks() if lk.relation == "t"] == ["SHARE"]
    (f,) = [f for f in revs["e2"].findings if f.rule == "create-index-non-concurrent"]
    assert "holds SHARE" in f.message


@pytest.mark.parametrize("ext,use", [
    ("uuid-ossp", 'sa.Column("id", sa.Uuid, primary_key=True, server_default=sa.text("uuid_generate_v4()"))'),
    ("pgcrypto", 'sa.Column("id", sa.Uuid, primary_key=True, server_default=sa.text("gen_random_uuid()")),'
                 ' sa.Column("h", sa.LargeBinary, server_default=sa.text("digest(\'x\', \'sha256\')"))'),
])
def test_extensions_the_shadow_lacks_get_stand_ins(tmp_path, shadow, dbname, ext, use):
    import psycopg

    with psycopg.connect(shadow.conninfo(dbname)) as c:
        available = c.execute("select 1 from pg_available_extensions where name = %s", (ext,)).fetchone()
    ini = make_project(tmp_path, [
        ("x1", f'op.execute(\'CREATE EXTENSION IF NOT EXISTS "{ext}"\')'),
        ("x2", f'op.create_table("t", {use})'),
        ("x3", f'op.execute(\'CREATE EXTENSION IF NOT EXISTS "{ext}"\')'),
    ])
    project = load_project(str(ini))
    runner = Runner(project, shadow, dbname)
    revs = {r.revision: r for r in runner.run()}
    assert all(r.error is None for r in revs.values()), [r.error for r in revs.values()]
    assert revs["x1"].statements[0].sql.startswith("CREATE EXTENSION")  # traced as written
    if not available:
        assert any(ext in note for note in runner.notes)


def test_branches_and_merges_are_all_traced(tmp_path, shadow, dbname):
    ini = make_project(tmp_path, [
        ("m1", 'op.create_table("t", sa.Column("id", sa.Integer, primary_key=True), sa.Column("a", sa.Integer))'),
        ("m2", 'op.add_column("t", sa.Column("b", sa.Integer))', "m1"),
        ("m3", '''
            with op.get_context().autocommit_block():
                op.create_index("ix_t_a", "t", ["a"], postgresql_concurrently=True)
        ''', "m1"),
        ("m4", 'op.add_column("t", sa.Column("c", sa.Integer))', ("m2", "m3")),
        ("m5", 'op.create_table("u", sa.Column("id", sa.Integer, primary_key=True))', "m1"),  # a second head
    ])
    revs = trace(ini, shadow, dbname)
    assert set(revs) == {"m1", "m2", "m3", "m4", "m5"}
    assert all(r.statements and r.verdict == "safe" for r in revs.values())
    assert revs["m4"].down_revision == ("m2", "m3")
    assert revs["m3"].statements[0].in_transaction is False
