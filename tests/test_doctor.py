"""env.py doctor: each pattern on an env.py written the way real projects write it."""

from __future__ import annotations

from alembic_guard.doctor import diagnose

STOCK = '''\
from alembic import context
from sqlalchemy import engine_from_config, pool

config = context.config


def run_migrations_online():
    connectable = engine_from_config(config.get_section(config.config_ini_section, {}), prefix="sqlalchemy.",
                                     poolclass=pool.NullPool)
    with connectable.connect() as connection:
        context.configure(connection=connection, target_metadata=None)
        with context.begin_transaction():
            context.run_migrations()


run_migrations_online()
'''


def _ids(tmp_path, text, revisions=()):
    env = tmp_path / "env.py"
    env.write_text(text)
    files = []
    for i, body in enumerate(revisions):
        f = tmp_path / f"r{i}.py"
        f.write_text(body)
        files.append(f)
    return {(f.id, f.line) for f in diagnose(env, files)}


def test_stock_env_py_only_lacks_lock_timeout(tmp_path):
    assert _ids(tmp_path, STOCK) == {("no-lock-timeout", 11)}


def test_advisory_lock_before_configure(tmp_path):
    text = STOCK.replace("        context.configure(", "        connection.execute(text(\"SELECT pg_advisory_lock(1)\"))\n"
                                                      "        context.configure(")
    ids = _ids(tmp_path, text)
    assert ("statement-before-configure", 11) in ids and ("advisory-lock-idle-in-transaction", 11) in ids


def test_a_statement_committed_before_configure_is_fine(tmp_path):
    # the Alembic cookbook's multi-tenant recipe: SET search_path, commit, then configure()
    text = STOCK.replace("        context.configure(", "        connection.execute(text('set search_path to \"t1\"'))\n"
                                                      "        connection.commit()\n"
                                                      "        context.configure(")
    assert "statement-before-configure" not in {i for i, _ in _ids(tmp_path, text)}


def test_lock_timeout_set_is_recognised(tmp_path):
    text = STOCK.replace("            context.run_migrations()", "            context.execute(\"SET LOCAL lock_timeout = '3s'\")\n"
                                                                 "            context.run_migrations()")
    assert _ids(tmp_path, text) == set()
    text2 = STOCK.replace('poolclass=pool.NullPool)', 'poolclass=pool.NullPool,\n'
                          '                                     connect_args={"options": "-c lock_timeout=2s"})')
    assert not {i for i, _ in _ids(tmp_path, text2)} & {"no-lock-timeout"}


def test_autocommit_blocks_without_transaction_per_migration(tmp_path):
    rev = "def upgrade():\n    with op.get_context().autocommit_block():\n        op.execute('VACUUM t')\n"
    assert ("autocommit-without-transaction-per-migration", 11) in _ids(tmp_path, STOCK, [rev])
    fixed = STOCK.replace("target_metadata=None)", "target_metadata=None, transaction_per_migration=True)")
    assert not {i for i, _ in _ids(tmp_path, fixed, [rev])} & {"autocommit-without-transaction-per-migration"}


def test_async_engine_without_run_sync(tmp_path):
    text = '''\
import asyncio
from alembic import context
from sqlalchemy.ext.asyncio import create_async_engine

async def main():
    engine = create_async_engine("postgresql+asyncpg://x/y")
    async with engine.connect() as connection:
        context.configure(connection=connection)
        context.run_migrations()

asyncio.run(main())
'''
    assert ("async-without-run-sync", 6) in _ids(tmp_path, text)
