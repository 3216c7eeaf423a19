"""The operations inside a real Alembic project: ``alembic upgrade`` online and ``--sql``, settings
from pyproject.toml next to alembic.ini, registration and autogenerate rendering."""

from __future__ import annotations

import time

import pglast
import psycopg
import pytest
import sqlalchemy as sa
from alembic.autogenerate import render_python_code
from alembic.operations import Operations, ops

import alembic_guard.ops as guard_ops
from alembic_guard.errors import GuardError
from alembic_guard.ops import LockRetryExhausted

from .conftest import ENV_PY_EXTERNAL_TRANSACTION

SETUP = """op.execute('''
CREATE TABLE customers (id int PRIMARY KEY);
INSERT INTO customers SELECT generate_series(1, 10);
CREATE TABLE "Order Lines" (id int PRIMARY KEY, customer_id int, price int, qty int, total bigint, email text);
INSERT INTO "Order Lines" SELECT g, 1 + mod(g, 10), mod(g, 50), 1 + mod(g, 3), NULL, 'u' || g FROM generate_series(1, 1500) g;
''')"""

SAFE_OPS = """
op.create_index_concurrently("ix_lines_customer", "Order Lines", ["customer_id"])
op.add_foreign_key_safely("fk_lines_customer", "Order Lines", "customers", ["customer_id"], ["id"])
op.add_check_constraint_safely("ck_qty", "Order Lines", "qty > 0")
op.backfill("Order Lines", set={"total": "price * qty"})
op.set_not_null_safely("Order Lines", "total", method="check")
op.add_unique_constraint_using_index("uq_lines_email", "Order Lines", ["email"])
op.run_with_lock_timeout('ALTER TABLE "Order Lines" ADD COLUMN IF NOT EXISTS note text')
"""

DOWN = """
op.drop_index_concurrently("ix_lines_customer")
op.drop_constraint("uq_lines_email", "Order Lines")
op.drop_constraint("fk_lines_customer", "Order Lines")
op.drop_constraint("ck_qty", "Order Lines")
op.drop_column("Order Lines", "note")
"""


def check_schema(conn) -> None:
    assert conn.execute('SELECT count(*) FROM "Order Lines" WHERE total IS DISTINCT FROM price * qty').fetchone()[0] == 0
    cons = dict(conn.execute("SELECT conname, convalidated FROM pg_constraint "
                             "WHERE conrelid = '\"Order Lines\"'::regclass").fetchall())
    assert cons["fk_lines_customer"] and cons["ck_qty"] and cons["uq_lines_email"]
    assert conn.execute("SELECT indisvalid FROM pg_index WHERE indexrelid = 'ix_lines_customer'::regclass").fetchone()[0]
    assert conn.execute("SELECT attnotnull FROM pg_attribute WHERE attrelid = '\"Order Lines\"'::regclass "
                        "AND attname = 'total'").fetchone()[0]
    assert not [c for c in cons if c.endswith("_chk")]


@pytest.mark.parametrize("per_migration", [False, True])
def test_upgrade_and_downgrade(alembic_project, conn, per_migration):
    project = alembic_project([SETUP, (SAFE_OPS, DOWN)])
    project.upgrade(per_migration=per_migration)
    check_schema(conn)
    assert conn.execute("SELECT version_num FROM alembic_version").fetchone()[0] == "r2"
    project.upgrade(per_migration=per_migration)  # at head: nothing
    project.downgrade("r1")
    assert conn.execute("SELECT to_regclass('ix_lines_customer')").fetchone()[0] is None
    # rerunning the revision after an interruption is safe: every op is idempotent
    conn.execute("UPDATE alembic_version SET version_num = 'r1'")
    project.upgrade(per_migration=per_migration)
    conn.execute("UPDATE alembic_version SET version_num = 'r1'")
    project.upgrade(per_migration=per_migration)
    check_schema(conn)


def test_offline_script_separates_non_transactional_steps_and_runs(alembic_project, shadow):
    project = alembic_project([SETUP, SAFE_OPS])
    script = project.offline()
    # Alembic's transaction is committed before the first op (autocommit_block); no schema is invented
    assert "-- Running upgrade r1 -> r2\n\nCOMMIT;\n\n-- create_index_concurrently ix_lines_customer on" in script
    assert ("-- create index ix_lines_customer -- run outside a transaction\nSET lock_timeout = '0ms';\n"
            "SET statement_timeout = '0ms';\nSET max_parallel_maintenance_workers = 0;\n"
            'CREATE INDEX CONCURRENTLY IF NOT EXISTS ix_lines_customer ON "Order Lines" (customer_id);\n'
            "RESET max_parallel_maintenance_workers;\n") in script
    assert ('ALTER TABLE "Order Lines" ADD CONSTRAINT fk_lines_customer FOREIGN KEY (customer_id) '
            "REFERENCES customers (id) NOT VALID;\nCOMMIT;") in script
    assert ("BEGIN;\nSET LOCAL lock_timeout = '0ms';\nSET LOCAL statement_timeout = '0ms';\n"
            'ALTER TABLE "Order Lines" VALIDATE CONSTRAINT fk_lines_customer;\nCOMMIT;') in script
    assert ('UPDATE "Order Lines" SET total = price * qty WHERE ctid = ANY (ARRAY(SELECT ctid FROM "Order Lines" '
            "WHERE ROW(total) IS DISTINCT FROM ROW(price * qty) LIMIT 1000 FOR UPDATE SKIP LOCKED));") in script
    assert "until it reports UPDATE 0" in script
    assert '-- On a large table, run VACUUM (SKIP_LOCKED, TRUNCATE false, PARALLEL 0) "Order Lines" each time' in script
    assert script.count("-- run outside a transaction") == 3  # two index builds, the backfill
    # it is valid SQL, and running it statement by statement on a fresh database builds the same schema
    statements = pglast.split(script)
    from alembic_guard.shadow import scratch_database

    with scratch_database(shadow) as other, psycopg.connect(shadow.conninfo(other), autocommit=True) as c:
        for statement in statements:
            cur = c.execute(statement)
            runs = 1
            while "FOR UPDATE SKIP LOCKED" in statement and cur.rowcount > 0:  # "repeat until UPDATE 0"
                cur = c.execute(statement)
                runs += 1
            if "FOR UPDATE SKIP LOCKED" in statement:
                assert runs == 3  # 1500 rows in batches of 1000, then UPDATE 0
        check_schema(c)


def test_pyproject_settings_next_to_alembic_ini(alembic_project, conn, shadow, dbname):
    body = """
    def read(connection):
        value = connection.exec_driver_sql("SELECT current_setting('lock_timeout')").scalar()
        connection.exec_driver_sql(f"CREATE TABLE seen AS SELECT '{value}'::text AS lock_timeout")
    op.run_with_lock_timeout(read)
    op.run_with_lock_timeout("ALTER TABLE t ADD COLUMN a int")
    """
    project = alembic_project(["op.execute('CREATE TABLE t (id int)')", body], pyproject="""
[tool.alembic-guard]
lock_timeout = "150ms"
retry_attempts = 2
retry_backoff_min_ms = 10
disable = ["drop-column"]  # an analyzer key: the operations read past it
""")
    project.upgrade("r1")
    holder = psycopg.connect(shadow.conninfo(dbname), autocommit=True)
    holder.execute("BEGIN")
    holder.execute("LOCK TABLE t IN ACCESS SHARE MODE")
    try:
        started = time.monotonic()
        with pytest.raises(LockRetryExhausted) as info:
            project.upgrade()
        assert info.value.attempts == 2 and time.monotonic() - started < 3
    finally:
        holder.close()
    assert conn.execute("SELECT lock_timeout FROM seen").fetchone()[0] == "150ms"


def test_external_transaction_is_refused_with_a_hint(alembic_project):
    project = alembic_project(['op.run_with_lock_timeout("SELECT 1")'], env=ENV_PY_EXTERNAL_TRANSACTION)
    with pytest.raises(GuardError, match="transaction Alembic did not begin"):
        project.upgrade()


def test_ops_in_an_autocommit_block_of_the_revision(alembic_project, conn):
    project = alembic_project(["""
    op.execute("CREATE TABLE t (id int PRIMARY KEY, a int)")
    with op.get_context().autocommit_block():
        op.create_index_concurrently("ix_a", "t", ["a"])
        op.run_with_lock_timeout("ALTER TABLE t ADD COLUMN b int")
    op.execute("ALTER TABLE t ADD COLUMN c int")
    """])
    project.upgrade()
    assert conn.execute("SELECT count(*) FROM pg_attribute WHERE attrelid = 't'::regclass AND attnum > 0").fetchone()[0] == 4


def test_registered_and_rendered_for_autogenerate():
    for name in guard_ops.OPERATIONS:
        assert callable(getattr(Operations, name)), name
    upgrade = ops.UpgradeOps(ops=[
        guard_ops.CreateIndexConcurrentlyOp("ix_t_a", "t", [sa.text("lower(a)")], schema="s", unique=True),
        guard_ops.AddForeignKeySafelyOp("fk", "t", "p", ["p_id"], ["id"]),
        guard_ops.BackfillOp("t", set={"total": "price * qty"}, batch_size=500),
        guard_ops.SetNotNullSafelyOp("t", "total"),
    ])
    code = render_python_code(upgrade)
    assert "op.create_index_concurrently('ix_t_a', 't', [sa.text('lower(a)')], schema='s', unique=True)" in code
    assert "op.add_foreign_key_safely('fk', 't', 'p', ['p_id'], ['id'])" in code
    assert "op.backfill('t', set={'total': 'price * qty'}, batch_size=500)" in code
    assert "op.set_not_null_safely('t', 'total')" in code
    reverse = guard_ops.CreateIndexConcurrentlyOp("ix", "t", ["a"]).reverse()
    assert reverse.to_source() == "op.drop_index_concurrently('ix', table_name='t')"


def test_op_constructed_by_a_rewriter_runs(migration, conn):
    conn.execute("CREATE TABLE t (id int PRIMARY KEY, a int)")
    with migration() as op:
        op.invoke(guard_ops.CreateIndexConcurrentlyOp("ix_a", "t", ["a"], lock_timeout_ms=500))
    assert conn.execute("SELECT indisvalid FROM pg_index WHERE indexrelid = 'ix_a'::regclass").fetchone()[0]


def test_non_transactional_ddl_context(engine, conn):
    from alembic.migration import MigrationContext

    conn.execute("CREATE TABLE t (id int PRIMARY KEY, a int)")
    with engine.connect() as connection:
        ctx = MigrationContext.configure(connection, opts={"transactional_ddl": False})
        with ctx.begin_transaction():
            op = Operations(ctx)
            op.execute("INSERT INTO t VALUES (1, 1)")
            op.create_index_concurrently("ix_a", "t", ["a"])
            op.execute("INSERT INTO t VALUES (2, 2)")
        connection.commit()
    assert conn.execute("SELECT count(*) FROM t").fetchone()[0] == 2
    assert conn.execute("SELECT indisvalid FROM pg_index WHERE indexrelid = 'ix_a'::regclass").fetchone()[0]


def test_operation_logs_survive_env_py_fileconfig(migration, caplog):
    """env.py's fileConfig() disables loggers that already exist, but not children of a logger it
    configures: the ops log under ``alembic.guard.ops`` (and re-enable it anyway)."""
    import logging
    import logging.config
    from pathlib import Path

    logging.config.fileConfig(Path(__file__).resolve().parents[2] / "examples" / "shop" / "alembic.ini")
    assert not logging.getLogger("alembic.guard.ops").disabled
    records: list[logging.LogRecord] = []
    handler = logging.Handler(logging.INFO)
    handler.emit = records.append  # fileConfig replaced the root handlers (caplog's among them)
    logger = logging.getLogger("alembic.guard.ops")
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    try:
        with migration() as op:
            op.execute("CREATE TABLE logged (id int PRIMARY KEY, a int)")
        for _ in range(2):  # the rerun logs "already exists and is valid"
            with migration() as op:
                op.create_index_concurrently("ix_logged_a", "logged", ["a"])
    finally:
        logger.removeHandler(handler)
        logger.setLevel(logging.NOTSET)
    assert not logger.disabled
    assert any("ix_logged_a" in r.getMessage() for r in records)
