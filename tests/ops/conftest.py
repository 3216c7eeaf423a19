"""Fixtures for the safe operations: a SQLAlchemy engine on the per-test database, a migration
context that behaves like ``alembic upgrade`` (Alembic's transaction open around the ops), a
statement recorder, and a builder for a real Alembic project on disk."""

from __future__ import annotations

import contextlib
import io
from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa
from alembic import command
from alembic.config import Config
from alembic.migration import MigrationContext
from alembic.operations import Operations

import alembic_guard.ops  # noqa: F401  (registers op.create_index_concurrently & co.)
from tests.projects.factory import Revision, make_project


@pytest.fixture
def engine(db_url):
    eng = sa.create_engine(db_url, poolclass=sa.pool.NullPool)
    yield eng
    eng.dispose()


@pytest.fixture
def migration(engine):
    """``with migration() as op:`` runs ops like a revision inside ``alembic upgrade``: Alembic's
    transaction is open (``begin_transaction``) and committed at the end."""

    @contextlib.contextmanager
    def make(**opts) -> Iterator[Operations]:
        with engine.connect() as connection:
            ctx = MigrationContext.configure(connection, opts=opts)
            with ctx.begin_transaction():
                yield Operations(ctx)

    return make


@pytest.fixture
def recorder(engine):
    """Statements the engine's connections execute, in order (all connections)."""
    seen: list[str] = []

    def before(conn, cursor, statement, parameters, context, executemany):
        seen.append(" ".join(statement.split()))

    sa.event.listen(engine, "before_cursor_execute", before)
    yield seen
    sa.event.remove(engine, "before_cursor_execute", before)


def seq_scans(conn, table: str) -> int:
    return conn.execute("SELECT seq_scan FROM pg_stat_user_tables WHERE relid = %s::regclass", [table]).fetchone()[0]


ENV_PY = '''\
from alembic import context
from sqlalchemy import engine_from_config, pool

import alembic_guard.ops  # the one line that enables op.create_index_concurrently & co.

config = context.config
per_migration = config.attributes.get("per_migration", False)

if context.is_offline_mode():
    context.configure(url=config.get_main_option("sqlalchemy.url"), literal_binds=True,
                      transaction_per_migration=per_migration)
    with context.begin_transaction():
        context.run_migrations()
else:
    connectable = engine_from_config(config.get_section(config.config_ini_section, {}),
                                     prefix="sqlalchemy.", poolclass=pool.NullPool)
    with connectable.connect() as connection:
        context.configure(connection=connection, transaction_per_migration=per_migration)
        with context.begin_transaction():
            context.run_migrations()
'''

ENV_PY_EXTERNAL_TRANSACTION = '''\
from alembic import context
from sqlalchemy import engine_from_config, pool

import alembic_guard.ops

config = context.config
connectable = engine_from_config(config.get_section(config.config_ini_section, {}),
                                 prefix="sqlalchemy.", poolclass=pool.NullPool)
with connectable.begin() as connection:
    context.configure(connection=connection)
    with context.begin_transaction():
        context.run_migrations()
'''

class Project:
    def __init__(self, root: Path, url: str):
        self.root = root
        self.url = url
        self.config = Config(str(root / "alembic.ini"))

    def upgrade(self, target: str = "head", *, per_migration: bool = False) -> None:
        self.config.attributes["per_migration"] = per_migration
        command.upgrade(self.config, target)

    def downgrade(self, target: str) -> None:
        command.downgrade(self.config, target)

    def offline(self, target: str = "head", *, per_migration: bool = False) -> str:
        buf = io.StringIO()
        cfg = Config(str(self.root / "alembic.ini"), output_buffer=buf)
        cfg.attributes["per_migration"] = per_migration
        command.upgrade(cfg, target, sql=True)
        return buf.getvalue()


@pytest.fixture
def alembic_project(tmp_path, db_url):
    """``alembic_project([(upgrade_body, downgrade_body), ...], env=ENV_PY)`` → Project: a real
    Alembic project (alembic.ini, env.py importing alembic_guard.ops, versions r1 → r2 → …)."""

    def make(revisions: list[tuple[str, str] | str], env: str = ENV_PY, pyproject: str | None = None) -> Project:
        root = tmp_path / "project"
        files = []
        for i, item in enumerate(revisions, 1):
            up, downgrade = (item, "pass") if isinstance(item, str) else item
            files.append(Revision(f"r{i}", up, downgrade=downgrade))
        make_project(root, files, url=db_url, env_py=env)
        if pyproject is not None:
            (root / "pyproject.toml").write_text(pyproject)
        return Project(root, db_url)

    return make
