"""env.py styles that would leave the trace blind: an online ``configure(as_sql=True)`` (Alembic
writes the SQL out instead of running it) and an env.py with no online branch (``--sql`` only)."""

from __future__ import annotations

from pathlib import Path

import pytest

from alembic_guard.check import CheckOptions, run_check
from alembic_guard.errors import GuardError
from tests.conftest import test_provider
from tests.projects.factory import ENV_INI_URL_NO_LOGGING, make_project

REVISIONS = [("s1", 'op.create_table("t", sa.Column("id", sa.BigInteger, primary_key=True), sa.Column("a", sa.Text))'),
             ("s2", 'op.create_index("ix_t_a", "t", ["a"])')]


def _check(ini):
    return run_check(CheckOptions(config_file=str(ini), shadow=test_provider(), no_cache=True))


def test_online_as_sql_is_run_on_the_shadow_not_passed_as_safe(tmp_path):
    env = ENV_INI_URL_NO_LOGGING.replace("context.configure(connection=connection,",
                                         "context.configure(connection=connection, as_sql=True,")\
        .replace("{per_migration}", "True")
    assert "as_sql=True" in env
    report = _check(make_project(tmp_path, REVISIONS, env_py=env))
    assert [r.verdict for r in report.revisions] == ["safe", "unsafe"]
    assert any("as_sql=True" in n for n in report.notes)


def test_env_py_without_an_online_branch_is_one_paragraph_naming_env_py(tmp_path):
    env = """\
from alembic import context

context.configure(url=context.config.get_main_option("sqlalchemy.url"), literal_binds=True)
with context.begin_transaction():
    context.run_migrations()
"""
    ini = make_project(tmp_path, REVISIONS, env_py=env)
    with pytest.raises(GuardError) as err:
        _check(ini)
    assert err.value.path.endswith("env.py") and err.value.line == 3
    assert "without a connection" in err.value.message


TENANT_ENV = """\
from alembic import context
from sqlalchemy import engine_from_config, pool, text

config = context.config
connectable = engine_from_config(config.get_section(config.config_ini_section, {}), prefix="sqlalchemy.",
                                 poolclass=pool.NullPool)
with connectable.connect() as connection:
    # the Alembic cookbook's multi-tenant recipe ("Rudimental Schema-Level Multi Tenancy")
    connection.execute(text('CREATE SCHEMA IF NOT EXISTS "tenant1"'))
    connection.execute(text('set search_path to "tenant1"'))
    connection.commit()
    connection.dialect.default_schema_name = "tenant1"
    context.configure(connection=connection, target_metadata=None)
    with context.begin_transaction():
        context.run_migrations()
"""


def test_a_tenant_search_path_keeps_verdicts_and_specific_rules(tmp_path):
    # unqualified names resolve to the tenant's schema, Alembic's version table lives there too
    ini = make_project(tmp_path, [
        ("m1", 'op.create_table("t", sa.Column("id", sa.BigInteger, primary_key=True), sa.Column("a", sa.Text))\n'
               'op.execute("INSERT INTO t (a) SELECT g::text FROM generate_series(1, 50) g")'),
        ("m2", 'op.create_index("ix_t_a", "t", ["a"])'),
        ("m3", 'op.execute("UPDATE t SET a = \'y\'")'),
        ("m4", 'op.execute("SET LOCAL lock_timeout = \'2s\'")\nop.add_column("t", sa.Column("b", sa.Text))')],
        env_py=TENANT_ENV)
    report = _check(ini)
    assert [r.verdict for r in report.revisions] == ["safe", "unsafe", "unsafe", "safe"], \
        [(f.revision, f.rule, f.message) for f in report.findings()]
    rules = {(f.revision, f.rule) for f in report.findings() if f.severity == "error"}
    assert rules == {("m2", "create-index-non-concurrent"), ("m3", "backfill-in-migration-transaction")}


def test_a_revision_waiting_on_its_own_migration_fails_instead_of_hanging(tmp_path, monkeypatch):
    # a second connection's SELECT waits on the ACCESS EXCLUSIVE lock of the migration's own
    # transaction: in production it hangs; on the shadow it is cancelled and said
    from alembic_guard.capture import lock_wait

    monkeypatch.setattr(lock_wait, "LIMIT_S", 1.0)
    monkeypatch.setattr(lock_wait, "START_AFTER_S", 0.0)
    ini = make_project(tmp_path, [
        ("w1", 'op.create_table("t", sa.Column("id", sa.BigInteger, primary_key=True))'),
        ("w2", 'op.add_column("t", sa.Column("a", sa.Text))\n'
               'with op.get_bind().engine.connect() as other:\n'
               '    other.execute(sa.text("SELECT count(*) FROM t"))')])
    report = _check(ini)
    w2 = report.revisions[1]
    assert w2.verdict == "error" and "another connection of the same migration run" in w2.error, w2.error


def test_a_multi_database_env_py_is_one_paragraph_not_a_hang(tmp_path, monkeypatch):
    from alembic_guard.capture import lock_wait

    monkeypatch.setattr(lock_wait, "LIMIT_S", 1.0)
    monkeypatch.setattr(lock_wait, "START_AFTER_S", 0.0)
    env = """\
from alembic import context
from sqlalchemy import engine_from_config, pool

config = context.config
section = config.get_section(config.config_ini_section, {})
engines = [engine_from_config(section, prefix="sqlalchemy.", poolclass=pool.NullPool) for _ in range(2)]
connections = [e.connect() for e in engines]
transactions = [c.begin() for c in connections]
try:
    for i, connection in enumerate(connections):  # like Alembic's multidb template: one transaction each
        context.configure(connection=connection, upgrade_token=f"engine{i}_upgrades")
        context.run_migrations()
    for t in transactions:
        t.commit()
finally:
    for c in connections:
        c.close()
"""
    ini = make_project(tmp_path, REVISIONS, env_py=env)
    with pytest.raises(GuardError) as err:
        _check(ini)
    assert "multi-database" in (err.value.hint or ""), err.value.message
    assert err.value.path.endswith("env.py")


def _asyncpg_project(root: Path, body: str) -> Path:
    """Alembic's async env.py on asyncpg: revision a1 creates t (id, a), a2 runs ``body``."""
    return make_project(root, [
        ("a1", 'op.create_table("t", sa.Column("id", sa.BigInteger, primary_key=True), sa.Column("a", sa.Text))'),
        ("a2", body)], env="async", url="postgresql+asyncpg://app:secret@db.invalid:5432/app")


def test_safe_operations_run_under_an_asyncpg_env_py(tmp_path):
    # asyncpg returns a "char" column (relkind) as bytes and prepares every statement (one command each)
    report = _check(_asyncpg_project(tmp_path, 'import alembic_guard.ops  # noqa: F401\n'
                                               'op.create_index_concurrently("ix_t_a", "t", ["a"])\n'
                                               'op.set_not_null_safely("t", "a")'))
    assert [r.verdict for r in report.revisions] == ["safe", "safe"], \
        [(r.revision, r.error, [(f.rule, f.message) for f in r.findings]) for r in report.revisions]


def test_autogenerate_with_an_async_env_py_proves_its_rewrite(tmp_path):
    # the hook runs inside the async env.py's event loop; its proof runs env.py again (asyncio.run)
    import os
    import subprocess
    import sys

    from tests.projects.factory import ENV_ASYNC

    env_py = ENV_ASYNC.replace("config = context.config\n", "config = context.config\n"
                               "from models import metadata as target_metadata\n") \
        .replace("context.configure(connection=connection,", "context.configure(connection=connection, "
                 "target_metadata=target_metadata, process_revision_directives=alembic_guard.process_revision_directives,")\
        .replace("{per_migration}", "True").replace("import asyncio\n", "import asyncio\nimport alembic_guard\n")
    ini = make_project(tmp_path, [("g1", 'op.create_table("t", sa.Column("id", sa.BigInteger, primary_key=True), '
                                         'sa.Column("b", sa.Text))')],
                       env_py=env_py, url="postgresql+asyncpg://app:secret@db.invalid:5432/app")
    ini.write_text(ini.read_text().replace("[alembic]\n", "[alembic]\nprepend_sys_path = .\n"))
    mako = Path(__file__).resolve().parents[1] / "examples" / "shop" / "migrations" / "script.py.mako"
    (tmp_path / "migrations" / "script.py.mako").write_text(mako.read_text())
    (tmp_path / "models.py").write_text(
        "import sqlalchemy as sa\nmetadata = sa.MetaData()\n"
        "t = sa.Table('t', metadata, sa.Column('id', sa.BigInteger, primary_key=True), sa.Column('b', sa.Text), "
        "sa.Index('ix_t_b', 'b'))\n")
    env = dict(os.environ, ALEMBIC_GUARD_SHADOW=test_provider() or "auto")
    r = subprocess.run([sys.executable, "-m", "alembic_guard.cli", "revision", "-c", str(ini), "--autogenerate",
                        "-m", "index b", "--rev-id", "g2"], capture_output=True, text=True, env=env, timeout=300,
                       cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    src = (tmp_path / "migrations" / "versions").glob("g2*.py").__next__().read_text()
    assert "op.create_index_concurrently('ix_t_b', 't', ['b'])" in src and "verified on PostgreSQL" in src, src


def test_a_mysql_url_says_postgresql_only(tmp_path):
    pytest.importorskip("sqlalchemy.dialects.mysql")
    import importlib.util

    if importlib.util.find_spec("pymysql") is not None:
        pytest.skip("pymysql is installed: the dialect check of the redirect answers instead")
    ini = make_project(tmp_path, REVISIONS, url="mysql+pymysql://app:secret@db.invalid/app")
    with pytest.raises(GuardError) as err:
        _check(ini)
    assert "PostgreSQL projects only" in err.value.message and "MySQL" in err.value.message


@pytest.mark.parametrize("from_rev, to_rev, says", [("b1", "a1", "different branches"), ("a1", "r1", "reversed")])
def test_from_and_to_off_one_line_say_why(tmp_path, from_rev, to_rev, says):
    ini = make_project(tmp_path, [("r1", 'op.execute("SELECT 1")'), ("a1", 'op.execute("SELECT 1")', "r1"),
                                  ("b1", 'op.execute("SELECT 1")', "r1")])
    with pytest.raises(GuardError) as err:
        run_check(CheckOptions(config_file=str(ini), shadow=test_provider(), from_rev=from_rev, to_rev=to_rev))
    assert says in err.value.message


def test_a_tenant_table_beside_a_public_one_of_the_same_name_is_the_one_the_statement_locked(tmp_path):
    ini = make_project(tmp_path, [
        ("n1", 'op.create_table("t", sa.Column("id", sa.BigInteger, primary_key=True))\n'
               'op.create_table("t", sa.Column("id", sa.BigInteger, primary_key=True), schema="public")\n'
               'op.execute("INSERT INTO t SELECT generate_series(1, 50)")'),
        ("n2", 'op.execute("SET LOCAL lock_timeout = \'2s\'")\n'
               'op.execute("SELECT count(*) FROM public.t")\n'
               'op.add_column("t", sa.Column("z", sa.Float, server_default=sa.text("random()")))')],
        env_py=TENANT_ENV)
    report = _check(ini)
    rules = {f.rule for f in report.findings() if f.revision == "n2" and f.severity == "error"}
    assert "add-column-rewrites-table" in rules, rules


def test_op_run_async_statements_are_traced(tmp_path):
    # the revision's coroutine runs on the event loop; each statement in a greenlet of its own
    report = _check(_asyncpg_project(tmp_path, 'async def build(conn):\n'
                                               '    await conn.execute(sa.text("CREATE INDEX ix_t_a ON t (a)"))\n'
                                               'op.run_async(build)'))
    ra2 = report.revisions[1]
    assert ra2.verdict == "unsafe" and not ra2.unseen, ra2.unseen
    assert {f.rule for f in ra2.findings if f.severity == "error"} == {"create-index-non-concurrent"}
