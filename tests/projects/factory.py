"""Build small but real Alembic projects on disk for end-to-end tests."""

from __future__ import annotations

import textwrap
from pathlib import Path

INI = """\
[alembic]
script_location = %(here)s/migrations
sqlalchemy.url = {url}

[loggers]
keys = root

[handlers]
keys = console

[formatters]
keys = generic

[logger_root]
level = WARNING
handlers = console

[handler_console]
class = StreamHandler
args = (sys.stderr,)
level = NOTSET
formatter = generic

[formatter_generic]
format = %(levelname)-5.5s [%(name)s] %(message)s
"""

ENV_INI_URL = """\
from logging.config import fileConfig
from alembic import context
from sqlalchemy import engine_from_config, pool

config = context.config
if config.config_file_name is not None:
    fileConfig(config.config_file_name)


def run_migrations_online():
    connectable = engine_from_config(config.get_section(config.config_ini_section, {}),
                                     prefix="sqlalchemy.", poolclass=pool.NullPool)
    with connectable.connect() as connection:
        context.configure(connection=connection, target_metadata=None,
                          transaction_per_migration={per_migration})
        with context.begin_transaction():
            context.run_migrations()


run_migrations_online()
"""

ENV_ENV_VAR = """\
import os
from alembic import context
from sqlalchemy import create_engine, pool

config = context.config
engine = create_engine(os.environ["APP_DATABASE_URL"], poolclass=pool.NullPool)
with engine.connect() as connection:
    context.configure(connection=connection, transaction_per_migration={per_migration})
    with context.begin_transaction():
        context.run_migrations()
"""

ENV_SHARED_CONNECTION = """\
from alembic import context

config = context.config
connection = config.attributes["connection"]  # given by the application that runs the migrations
context.configure(connection=connection, transaction_per_migration={per_migration})
with context.begin_transaction():
    context.run_migrations()
"""

ENV_ASYNC = """\
import asyncio
from alembic import context
from sqlalchemy import pool
from sqlalchemy.ext.asyncio import async_engine_from_config

config = context.config


def do_run_migrations(connection):
    context.configure(connection=connection, transaction_per_migration={per_migration})
    with context.begin_transaction():
        context.run_migrations()


async def run_async_migrations():
    connectable = async_engine_from_config(config.get_section(config.config_ini_section, {}),
                                           prefix="sqlalchemy.", poolclass=pool.NullPool)
    async with connectable.connect() as connection:
        await connection.run_sync(do_run_migrations)
    await connectable.dispose()


asyncio.run(run_async_migrations())
"""

ENVS = {"ini": ENV_INI_URL, "env_var": ENV_ENV_VAR, "shared": ENV_SHARED_CONNECTION, "async": ENV_ASYNC}

REVISION = '''\
"""{message}

Revision ID: {rev}
Revises: {down}
"""
from alembic import op
import sqlalchemy as sa

revision = {rev!r}
down_revision = {down_repr}
branch_labels = None
depends_on = None


def upgrade():
{body}


def downgrade():
    pass
'''


def make_project(root: Path, revisions: list[tuple[str, str]] | list[tuple[str, str, object]], *,
                 env: str = "ini", url: str = "postgresql+psycopg://app:secret@db.invalid:5432/app",
                 per_migration: bool = True) -> Path:
    """Write an Alembic project under ``root`` and return its alembic.ini path.

    ``revisions`` is a list of ``(rev_id, upgrade body)`` or ``(rev_id, body, down_revision)``; by
    default each revises the previous one. Bodies are dedented and indented into ``upgrade()``.
    """
    mig = root / "migrations"
    (mig / "versions").mkdir(parents=True, exist_ok=True)
    (root / "alembic.ini").write_text(INI.format(url=url.replace("%", "%%")))
    (mig / "env.py").write_text(ENVS[env].replace("{per_migration}", str(per_migration)))
    (mig / "script.py.mako").write_text("")
    previous = None
    for item in revisions:
        rev, body = item[0], item[1]
        down = item[2] if len(item) > 2 else previous
        text = textwrap.indent(textwrap.dedent(body).strip() or "pass", "    ")
        (mig / "versions" / f"{rev}.py").write_text(REVISION.format(
            message=f"revision {rev}", rev=rev, down=down, down_repr=repr(down), body=text))
        previous = rev
    return root / "alembic.ini"
