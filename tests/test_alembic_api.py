"""The Alembic internals alembic_guard reads (alembic_guard/alembic_api.py) still mean what it thinks,
on the installed Alembic: when one of these fails after an Alembic upgrade, alembic_api.py is the one
file to adapt."""

from __future__ import annotations

import io
from pathlib import Path

import alembic
import sqlalchemy as sa
from alembic.config import Config
from alembic.runtime.environment import EnvironmentContext
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory

from alembic_guard import alembic_api
from tests.projects.factory import Revision, make_project


def project(tmp_path: Path) -> tuple[Config, ScriptDirectory]:
    ini = make_project(tmp_path, [Revision("a", "pass"), Revision("b", "pass"),
                                  Revision("c", "pass", down_revision="b")])
    (tmp_path / "migrations" / "versions" / "c.py").write_text(
        (tmp_path / "migrations" / "versions" / "c.py").read_text().replace("depends_on = None", "depends_on = 'a'"))
    config = Config(str(ini))
    return config, ScriptDirectory.from_config(config)


def test_script_directory_internals(tmp_path):
    _, script = project(tmp_path)
    assert [Path(p).resolve() for p in alembic_api.version_locations(script)] == \
        [(tmp_path / "migrations" / "versions").resolve()]
    assert not alembic_api.revision_map_loaded(script)
    loaded = {sc.revision for sc in alembic_api.revision_loader(script)()}
    assert loaded == {"a", "b", "c"} and not alembic_api.revision_map_loaded(script)
    assert alembic_api.down_revisions(script.get_revision("c")) == ("b", "a")  # depends_on counts
    assert alembic_api.revision_map_loaded(script)


def test_migration_context_state(shadow, dbname):
    engine = sa.create_engine(shadow.sqlalchemy_url(dbname), poolclass=sa.pool.NullPool)
    try:
        with engine.connect() as conn:
            mc = MigrationContext.configure(conn, opts={"transaction_per_migration": True})
            assert not alembic_api.in_external_transaction(mc)
            assert alembic_api.per_migration_configured(mc) and alembic_api.transactional_ddl(mc)
            assert not alembic_api.alembic_transaction_open(mc)
        with engine.connect() as conn:
            mc = MigrationContext.configure(conn)  # one transaction around all revisions
            assert not alembic_api.per_migration_configured(mc)
            with mc.begin_transaction():
                assert alembic_api.alembic_transaction_open(mc) and alembic_api.connection_in_transaction(mc)
                with mc.autocommit_block():
                    assert not alembic_api.alembic_transaction_open(mc)
            assert not alembic_api.connection_in_transaction(mc)
        with engine.connect() as conn:
            conn.begin()
            assert alembic_api.in_external_transaction(MigrationContext.configure(conn))
    finally:
        engine.dispose()


def test_offline_output():
    buf = io.StringIO()
    mc = MigrationContext.configure(dialect_name="postgresql", opts={"as_sql": True, "output_buffer": buf})
    alembic_api.offline_output(mc).write("SELECT 1;\n")
    assert buf.getvalue() == "SELECT 1;\n"


def test_current_context_outside_a_run():
    assert alembic_api.current_context() is None


def test_forced_transaction_per_migration_and_proxies(tmp_path):
    config, script = project(tmp_path)
    asked: list[bool] = []
    outer = EnvironmentContext(config, script)
    with outer:
        with alembic_api.proxies_restored():
            with alembic_api.forced_transaction_per_migration(asked.append):
                inner = EnvironmentContext(config, script)
                with inner:
                    inner.configure(dialect_name="postgresql", as_sql=True, transaction_per_migration=False,
                                    output_buffer=io.StringIO())
                    assert alembic_api.per_migration_configured(alembic_api.current_context())
            assert asked == [False]
            assert EnvironmentContext.configure is not None and alembic.context._proxy is not outer  # inner left
        assert alembic.context._proxy is outer  # the outer run's context is back


def test_script_reused_serves_the_loaded_directory_to_that_config_only(tmp_path):
    config, script = project(tmp_path)
    list(script.walk_revisions())  # the revision map is built: every revision file imported once
    other = Config(str(tmp_path / "alembic.ini"))
    with alembic_api.script_reused(config, script):
        assert ScriptDirectory.from_config(config) is script
        again = ScriptDirectory.from_config(other)
        assert again is not script and not alembic_api.revision_map_loaded(again)
    assert ScriptDirectory.from_config(config) is not script  # the class attribute is put back
    assert isinstance(ScriptDirectory.__dict__["from_config"], classmethod)
