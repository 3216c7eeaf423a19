"""check / fix / revision never contact the project's real database.

A fake "production server" (a TCP listener that records every connection and closes it) stands in for
the user's database: ``sqlalchemy.url`` in alembic.ini and the environment variables env.py and the
revisions read all point at it. Whatever way the project connects (an Engine from the ini or from the
environment, a custom ``creator``, a raw psycopg / psycopg2 / asyncpg connection in env.py, a revision
or a module it imports that connects at import time), the run must reach only the shadow, and the
listener must see no connection at all.
"""

from __future__ import annotations

import json
import socketserver
import sys
import threading
import time
from pathlib import Path

import psycopg
import pytest
from click.testing import CliRunner

from alembic_guard.capture import redirect as redirect_mod
from alembic_guard.capture.project import load_project
from alembic_guard.capture.redirect import RawConnect, redirect_connections
from alembic_guard.capture.runner import Runner
from alembic_guard.check import CheckOptions, run_check
from alembic_guard.cli import main
from alembic_guard.errors import GuardError
from alembic_guard.judge import judge
from tests.projects.factory import ENV_ASYNC, ENV_INI_URL, make_project

REVISIONS = [
    ("a1", 'op.create_table("items", sa.Column("id", sa.Integer, primary_key=True), sa.Column("sku", sa.Text))'),
    ("a2", 'op.create_index("ix_items_sku", "items", ["sku"])'),
]


class _Recorder(socketserver.BaseRequestHandler):
    def handle(self):
        self.server.connections.append(self.client_address)  # before closing: the client waits for it
        self.request.close()


@pytest.fixture
def production():
    """A fake production server on 127.0.0.1: ``.connections`` lists every connection it received."""
    server = socketserver.ThreadingTCPServer(("127.0.0.1", 0), _Recorder)
    server.daemon_threads = True
    server.connections = []
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        yield server
    finally:
        server.shutdown()
        server.server_close()


def _contacts(production) -> list:
    time.sleep(0.1)  # let the listener's thread catch up with a connection, if there was one
    return list(production.connections)


@pytest.fixture
def prod_env(production, monkeypatch, tmp_path):
    """Point every URL a project may read at the fake production server; returns its URLs."""
    port = production.server_address[1]
    urls = {
        "psycopg": f"postgresql+psycopg://app:secret@127.0.0.1:{port}/app",
        "psycopg2": f"postgresql+psycopg2://app:secret@127.0.0.1:{port}/app",
        "asyncpg": f"postgresql+asyncpg://app:secret@127.0.0.1:{port}/app",
        "libpq": f"postgresql://app:secret@127.0.0.1:{port}/app?application_name=migrations",
    }
    monkeypatch.setenv("APP_DATABASE_URL", urls["psycopg2"])
    monkeypatch.setenv("LIBPQ_DATABASE_URL", urls["libpq"])
    monkeypatch.setenv("AG_TEST_OUT", str(tmp_path / "seen.jsonl"))
    for var in ("PGHOST", "PGHOSTADDR", "PGPORT", "PGDATABASE", "PGSERVICE"):
        monkeypatch.delenv(var, raising=False)
    return urls


def _shadow_url(shadow) -> str:
    auth = shadow.user + (f":{shadow.password}" if shadow.password else "")
    return f"postgresql://{auth}@/{shadow.admin_db}?host={shadow.host}&port={shadow.port}"


def _seen(tmp_path) -> list[dict]:
    out = tmp_path / "seen.jsonl"
    return [json.loads(line) for line in out.read_text().splitlines()] if out.exists() else []


def _line_of(path: Path, needle: str) -> int:
    return next(i for i, line in enumerate(path.read_text().splitlines(), 1) if needle in line)


# What a raw connection saw, written where the test can read it (the database name: a scratch one).
REPORT = """\
def _report(where, conn):
    import json, os
    with open(os.environ["AG_TEST_OUT"], "a") as f:
        f.write(json.dumps({"where": where, "dbname": conn.info.dbname,
                            "app": conn.execute("SHOW application_name").fetchone()[0]}) + "\\n")
"""

ENV_CREATOR = """\
import os
import psycopg2
from alembic import context
from sqlalchemy import create_engine, pool

engine = create_engine("postgresql+psycopg2://", poolclass=pool.NullPool,
                       creator=lambda: psycopg2.connect(os.environ["LIBPQ_DATABASE_URL"]))
with engine.connect() as connection:
    context.configure(connection=connection, transaction_per_migration=True)
    with context.begin_transaction():
        context.run_migrations()
"""

ENV_ADVISORY_LOCK = REPORT + """\
import os
import psycopg
from alembic import context
from sqlalchemy import engine_from_config, pool

config = context.config
target_metadata = None
with psycopg.connect(os.environ["LIBPQ_DATABASE_URL"], autocommit=True) as lock:  # one migrator at a time
    lock.execute("SELECT pg_advisory_lock(4242)")
    _report("env", lock)
    connectable = engine_from_config(config.get_section(config.config_ini_section, {}),
                                     prefix="sqlalchemy.", poolclass=pool.NullPool)
    with connectable.connect() as connection:
        context.configure(connection=connection, target_metadata=target_metadata,
                          transaction_per_migration=True)
        with context.begin_transaction():
            context.run_migrations()
    lock.execute("SELECT pg_advisory_unlock(4242)")
"""

ENV_ASYNC_RAW = ENV_ASYNC.replace("{per_migration}", "True").replace(
    "async def run_async_migrations():\n", """\
async def run_async_migrations():
    import os, asyncpg, psycopg
    raw = await asyncpg.connect(os.environ["LIBPQ_DATABASE_URL"].split("?")[0])
    assert (await raw.fetchval("SELECT current_database()")).startswith("ag_")
    await raw.close()
    pool_ = await asyncpg.create_pool(os.environ["LIBPQ_DATABASE_URL"].split("?")[0], min_size=2, max_size=2)
    async with pool_.acquire() as c:
        assert (await c.fetchval("SELECT current_database()")).startswith("ag_")
    await pool_.close()
    aconn = await psycopg.AsyncConnection.connect(os.environ["LIBPQ_DATABASE_URL"])
    assert aconn.info.dbname.startswith("ag_")
    await aconn.close()
""", 1)


def _check(ini, shadow, **kw):
    return run_check(CheckOptions(config_file=str(ini), shadow_url=_shadow_url(shadow), **kw))


def _trace(ini, shadow, dbname):
    """Runner on the shadow (like check), returning the runner for its raw_connects."""
    project = load_project(str(ini))
    with redirect_connections(shadow, dbname, project.version_dirs()):
        project.load_revisions()
    runner = Runner(project, shadow, dbname)
    revisions = runner.run()
    judge(revisions, shadow.version_num)
    return runner, {r.revision: r for r in revisions}


def _assert_traced(revs):
    assert revs["a1"].verdict == "safe", revs["a1"].error
    assert revs["a2"].verdict == "unsafe", revs["a2"].error
    assert any(lk.relation == "items" for lk in revs["a2"].statements[0].observation.new_locks)


def test_the_fake_production_server_sees_a_connection(prod_env, production):
    # Sanity check of the listener itself: outside a check, a connection does reach it.
    with pytest.raises(psycopg.OperationalError):
        psycopg.connect(prod_env["libpq"], connect_timeout=3)
    assert len(_contacts(production)) == 1


@pytest.mark.parametrize("env,url", [("ini", "psycopg"), ("ini", "psycopg2"), ("ini", "libpq"),
                                     ("env_var", "psycopg"), ("async", "asyncpg")])
def test_engines_from_ini_or_environment_reach_only_the_shadow(tmp_path, shadow, prod_env, production, env, url):
    ini = make_project(tmp_path, REVISIONS, env=env, url=prod_env[url].split("?")[0])
    report = _check(ini, shadow)
    _assert_traced({r.revision: r for r in report.revisions})
    assert _contacts(production) == []


def test_custom_creator_with_raw_psycopg2_reaches_only_the_shadow(tmp_path, shadow, dbname, prod_env, production):
    # create_engine(creator=...) bypasses SQLAlchemy's do_connect: the psycopg2.connect wrapper catches it.
    ini = make_project(tmp_path, REVISIONS, env_py=ENV_CREATOR, url=prod_env["psycopg2"])
    runner, revs = _trace(ini, shadow, dbname)
    _assert_traced(revs)
    env_py = tmp_path / "migrations" / "env.py"
    assert runner.raw_connects == [RawConnect("psycopg2", str(env_py), _line_of(env_py, "creator=lambda"), False)]
    assert _check(ini, shadow).revisions
    assert _contacts(production) == []


def test_raw_psycopg_advisory_lock_in_env_py_is_taken_on_the_shadow(tmp_path, shadow, dbname, prod_env, production):
    ini = make_project(tmp_path, REVISIONS, env_py=ENV_ADVISORY_LOCK, url=prod_env["psycopg"])
    runner, revs = _trace(ini, shadow, dbname)
    _assert_traced(revs)
    env_py = tmp_path / "migrations" / "env.py"
    assert runner.raw_connects == [RawConnect("psycopg", str(env_py), _line_of(env_py, "with psycopg.connect"))]
    (seen,) = _seen(tmp_path)
    assert seen["dbname"] == dbname  # the scratch database, not "app"
    assert seen["app"] == "migrations"  # a harmless option is kept
    _check(ini, shadow)
    assert _contacts(production) == []


def test_async_engine_and_raw_async_connections_reach_only_the_shadow(tmp_path, shadow, dbname, prod_env, production):
    ini = make_project(tmp_path, REVISIONS, env_py=ENV_ASYNC_RAW, url=prod_env["asyncpg"])
    runner, revs = _trace(ini, shadow, dbname)
    _assert_traced(revs)
    env_py = str(tmp_path / "migrations" / "env.py")
    # asyncpg.connect, asyncpg.create_pool (once, not per pooled connection), AsyncConnection.connect;
    # the async Engine's own connections are not raw ones
    assert [(c.driver, c.path) for c in runner.raw_connects] == [
        ("asyncpg", env_py), ("asyncpg", env_py), ("psycopg", env_py)]
    _check(ini, shadow)
    assert _contacts(production) == []


def _connect_at_import(tmp_path, monkeypatch, helper: str) -> Path:
    """A project whose revision a1 opens a raw psycopg2 connection at import time, and whose a2
    imports ``helper``, a module that builds an Engine from $APP_DATABASE_URL and connects at import."""
    ini = make_project(tmp_path, REVISIONS, env="ini", url="postgresql+psycopg://app@db.invalid/app")
    ini.write_text(ini.read_text().replace("[alembic]\n", "[alembic]\nprepend_sys_path = .\npath_separator = os\n", 1))
    (tmp_path / f"{helper}.py").write_text(
        "import os\nfrom sqlalchemy import create_engine, text\n\n"
        'engine = create_engine(os.environ["APP_DATABASE_URL"])\n'
        'with engine.connect() as c:\n    DATABASE = c.execute(text("SELECT current_database()")).scalar()\n'
        'assert DATABASE.startswith("ag_"), DATABASE\n')
    monkeypatch.delitem(sys.modules, helper, raising=False)
    versions = tmp_path / "migrations" / "versions"
    a1 = versions / "a1.py"
    a1.write_text(a1.read_text().replace("import sqlalchemy as sa\n", (
        "import sqlalchemy as sa\nimport os\nimport psycopg2\n\n"
        '_conn = psycopg2.connect(os.environ["LIBPQ_DATABASE_URL"])  # at import time\n'
        "with _conn.cursor() as cur:\n"
        '    cur.execute("SELECT current_database()")\n'
        '    assert cur.fetchone()[0].startswith("ag_")\n'
        "_conn.close()\n"), 1))
    a2 = versions / "a2.py"
    a2.write_text(a2.read_text().replace("import sqlalchemy as sa\n", f"import sqlalchemy as sa\nimport {helper}\n", 1))
    return ini


def test_revision_modules_that_connect_at_import_time_reach_only_the_shadow(tmp_path, shadow, dbname, prod_env,
                                                                           production, monkeypatch):
    helper = f"prod_helper_{tmp_path.name.replace('-', '_')}"
    ini = _connect_at_import(tmp_path, monkeypatch, helper)
    project = load_project(str(ini))  # compiles, imports nothing: no connection yet
    assert not project.revisions_loaded and helper not in sys.modules
    with pytest.raises(RuntimeError, match="only inside redirect_connections"):
        project.script.get_heads()
    runner, revs = _trace(ini, shadow, dbname)
    # a1's own raw connection is not traced: its verdict is "unknown", never "safe"
    assert revs["a1"].verdict == "unknown" and "raw psycopg2 connection" in revs["a1"].unseen[0]
    assert revs["a2"].verdict == "unsafe", revs["a2"].error
    a1 = tmp_path / "migrations" / "versions" / "a1.py"
    # recorded as the scripts are imported (once: the upgrade reuses them), as a revision script
    assert RawConnect("psycopg2", str(a1), _line_of(a1, "psycopg2.connect("), True) in runner.raw_connects
    monkeypatch.delitem(sys.modules, helper, raising=False)
    _check(ini, shadow)
    assert _contacts(production) == []


UNREADABLE = ENV_INI_URL.replace("{per_migration}", "True").replace(
    "def run_migrations_online():\n", 'import psycopg\npsycopg.connect("host=db.invalid and then some")\n\n\n'
    "def run_migrations_online():\n", 1)


def test_unreadable_connection_arguments_stop_the_check_with_file_and_line(tmp_path, shadow, prod_env, production):
    ini = make_project(tmp_path, REVISIONS, env_py=UNREADABLE, url=prod_env["psycopg"])
    result = CliRunner().invoke(main, ["check", "-c", str(ini), "--shadow-url", _shadow_url(shadow)])
    assert result.exit_code == 2, result.output
    path = tmp_path / "migrations" / "env.py"
    assert f"{path}:{_line_of(path, 'psycopg.connect(')}:" in result.output
    assert "cannot be sent to the shadow database" in result.output and "Traceback" not in result.output
    assert _contacts(production) == []


def test_cli_check_with_raw_connections_exits_0_and_contacts_nothing(tmp_path, shadow, prod_env, production):
    ini = make_project(tmp_path, REVISIONS, env_py=ENV_ADVISORY_LOCK, url=prod_env["psycopg"])
    result = CliRunner().invoke(main, ["check", "-c", str(ini), "--shadow-url", _shadow_url(shadow),
                                       "--fail-on", "never"])
    assert result.exit_code == 0, result.output
    assert "a2" in result.output
    assert _contacts(production) == []


def test_drivers_are_restored_after_the_run_also_on_errors(tmp_path, shadow, prod_env):
    import asyncpg
    import psycopg2

    before = (psycopg.connect, psycopg.Connection.__dict__["connect"], psycopg.AsyncConnection.__dict__["connect"],
              psycopg2.connect, asyncpg.connect, asyncpg.create_pool, asyncpg.connection.connect)
    ini = make_project(tmp_path, [("r1", 'raise RuntimeError("boom")')], env_py=ENV_ADVISORY_LOCK,
                       url=prod_env["psycopg"])
    _check(ini, shadow)  # r1 fails on the shadow: reported, the run goes on
    env_py = tmp_path / "migrations" / "env.py"
    env_py.write_text(UNREADABLE)
    with pytest.raises(GuardError, match="cannot be sent to the shadow"):  # stops inside the redirect
        _check(ini, shadow)
    after = (psycopg.connect, psycopg.Connection.__dict__["connect"], psycopg.AsyncConnection.__dict__["connect"],
             psycopg2.connect, asyncpg.connect, asyncpg.create_pool, asyncpg.connection.connect)
    assert after == before
    assert redirect_mod.active() is None


def test_error_behaviour_is_kept(tmp_path, shadow, prod_env, production):
    url = _shadow_url(shadow)
    broken = make_project(tmp_path / "broken", [("b1", "pass"), ("b2", "pass", "missing")])
    result = CliRunner().invoke(main, ["check", "-c", str(broken), "--shadow-url", url])
    assert result.exit_code == 2 and "names down_revision 'missing'" in result.output, result.output
    failing = make_project(tmp_path / "failing", [("f1", "pass")])
    f1 = tmp_path / "failing" / "migrations" / "versions" / "f1.py"
    f1.write_text(f1.read_text().replace("import sqlalchemy as sa\n", "import sqlalchemy as sa\n1 / 0\n", 1))
    result = CliRunner().invoke(main, ["check", "-c", str(failing), "--shadow-url", url])
    assert result.exit_code == 2, result.output
    assert f"{f1}:{_line_of(f1, '1 / 0')}:" in result.output and "ZeroDivisionError" in result.output
    assert _contacts(production) == []


def test_fix_reaches_only_the_shadow(tmp_path, shadow, prod_env, production):
    from alembic_guard.rewrite.fix import run_fix

    env_py = ENV_ADVISORY_LOCK.replace('    _report("env", lock)\n', "")
    ini = make_project(tmp_path, REVISIONS, env_py=env_py, url=prod_env["psycopg"])
    report = run_fix(str(ini), ["a2"], server=shadow)
    (fx,) = report.revisions
    assert fx.proof is not None and fx.proof.accepted, fx.proof and fx.proof.reasons()
    assert "create_index_concurrently" in fx.new_source
    assert _contacts(production) == []


ENV_AUTOGENERATE = ENV_ADVISORY_LOCK.replace('    _report("env", lock)\n', "").replace(
    "target_metadata = None\n", """\
import sqlalchemy as sa
target_metadata = sa.MetaData()
sa.Table("items", target_metadata, sa.Column("id", sa.Integer, primary_key=True), sa.Column("sku", sa.Text),
         sa.Column("note", sa.Text))
""")


def test_revision_autogenerate_reaches_only_the_shadow(tmp_path, shadow, prod_env, production):
    from alembic_guard.revision import run_revision

    ini = make_project(tmp_path, REVISIONS, env_py=ENV_AUTOGENERATE, url=prod_env["psycopg"])
    (tmp_path / "migrations" / "script.py.mako").write_text(
        "revision = ${repr(up_revision)}\ndown_revision = ${repr(down_revision)}\n\n\ndef upgrade():\n"
        "    ${upgrades if upgrades else 'pass'}\n")
    (path,) = run_revision(str(ini), "add note", rev_id="a3", shadow_url=_shadow_url(shadow))
    assert "add_column('items', sa.Column('note'" in path.read_text()
    assert _contacts(production) == []
