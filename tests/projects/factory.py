"""Build small but real Alembic projects on disk for end-to-end tests.

The one place that writes alembic.ini, env.py and revision files: ``make_project`` is used directly
and by tests/helpers.py (rule tests), tests/ops/conftest.py (``alembic_project``) and
tests/rewrite/test_fix.py.
"""

from __future__ import annotations

import textwrap
from pathlib import Path
from typing import NamedTuple

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

ENV_INI_URL_NO_LOGGING = """\
from alembic import context
from sqlalchemy import engine_from_config, pool

config = context.config


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

# The same, with the logging set-up from alembic.ini that `alembic init` writes.
ENV_INI_URL = "from logging.config import fileConfig\n" + ENV_INI_URL_NO_LOGGING.replace(
    "config = context.config\n",
    "config = context.config\nif config.config_file_name is not None:\n    fileConfig(config.config_file_name)\n", 1)

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

ENVS = {"ini": ENV_INI_URL, "ini_no_logging": ENV_INI_URL_NO_LOGGING, "env_var": ENV_ENV_VAR,
        "shared": ENV_SHARED_CONNECTION, "async": ENV_ASYNC}

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
{downgrade}
'''

DEFAULT_URL = "postgresql+psycopg://app:secret@db.invalid:5432/app"


class Revision(NamedTuple):
    """One revision file. A plain ``(rev, upgrade)`` or ``(rev, upgrade, down_revision)`` tuple works
    the same; ``down_revision`` defaults to the revision before it in the list."""

    rev: str
    upgrade: str
    down_revision: object = ...
    downgrade: str = "pass"


def _indent(body: str) -> str:
    return textwrap.indent(textwrap.dedent(body).strip() or "pass", "    ")


def make_project(root: Path, revisions: list[tuple[str, str]] | list[tuple[str, str, object]] | list[Revision], *,
                 env: str = "ini", url: str = DEFAULT_URL, per_migration: bool = True,
                 env_py: str | None = None) -> Path:
    """Write an Alembic project under ``root`` and return its alembic.ini path.

    ``revisions`` is a list of ``(rev_id, upgrade body)``, ``(rev_id, body, down_revision)`` or
    ``Revision``; by default each revises the previous one. Bodies are dedented and indented into
    ``upgrade()`` (and ``downgrade()``). ``env`` names one of ``ENVS``; ``env_py`` gives the text of
    env.py instead.
    """
    mig = root / "migrations"
    (mig / "versions").mkdir(parents=True, exist_ok=True)
    (root / "alembic.ini").write_text(INI.format(url=url.replace("%", "%%")))
    if env_py is None:
        env_py = ENVS[env].replace("{per_migration}", str(per_migration))
    (mig / "env.py").write_text(env_py)
    (mig / "script.py.mako").write_text("")
    previous = None
    for item in revisions:
        r = Revision(*item)
        down = previous if r.down_revision is ... else r.down_revision
        (mig / "versions" / f"{r.rev}.py").write_text(REVISION.format(
            message=f"revision {r.rev}", rev=r.rev, down=down, down_repr=repr(down),
            body=_indent(r.upgrade), downgrade=_indent(r.downgrade)))
        previous = r.rev
    return root / "alembic.ini"
