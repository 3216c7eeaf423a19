"""op.backfill: keyset batches, one transaction each, idempotent, resumable after SIGKILL."""

from __future__ import annotations

import logging
import os
import signal
import subprocess
import sys
import textwrap
import time

import pytest
import sqlalchemy as sa

from alembic_guard.errors import GuardError

ORDERS = """
CREATE TABLE orders (id int PRIMARY KEY, price int NOT NULL, qty int NOT NULL, total bigint,
                     touched int NOT NULL DEFAULT 0);
INSERT INTO orders (id, price, qty) SELECT g, g % 100, 1 + g % 7 FROM generate_series(1, {n}) g;
"""


def wrong_totals(conn) -> int:
    return conn.execute("SELECT count(*) FROM orders WHERE total IS DISTINCT FROM price * qty").fetchone()[0]


def test_backfill_batches_and_rerun_changes_nothing(conn, migration, recorder, caplog):
    conn.execute(ORDERS.format(n=2500))
    caplog.set_level(logging.INFO, logger="alembic.guard.ops")
    with migration() as op:
        first = op.backfill("orders", set={"total": "price * qty"}, batch_size=1000, batch_target_ms=0)
        second = op.backfill("orders", set={"total": "price * qty"}, batch_size=1000, batch_target_ms=0)
    assert wrong_totals(conn) == 0
    assert (first.rows_updated, first.rows_scanned, first.batches) == (2500, 2500, 3)
    assert (second.rows_updated, second.rows_scanned) == (0, 2500)
    batches = [s for s in recorder if "UPDATE public.orders SET total = price * qty" in s]
    assert len(batches) == 2 * 3  # a short batch is the last one: no extra statement to find nothing
    assert batches[1] == (
        "WITH alembic_guard_batch AS MATERIALIZED (SELECT id FROM public.orders WHERE (id) > "
        "(CAST(%(lo0)s AS integer)) ORDER BY id LIMIT 1000), alembic_guard_last AS (SELECT id FROM "
        "alembic_guard_batch ORDER BY id DESC LIMIT 1), alembic_guard_updated AS (UPDATE public.orders "
        "SET total = price * qty WHERE (id) > (CAST(%(lo0)s AS integer)) AND (id) <= (SELECT id FROM "
        "alembic_guard_last) AND ROW(total) IS DISTINCT FROM ROW(CAST((price * qty) AS bigint)) RETURNING 1) "
        "SELECT (SELECT count(*) FROM alembic_guard_batch), (SELECT count(*) FROM alembic_guard_updated), "
        "alembic_guard_last.id FROM (SELECT) AS one LEFT JOIN alembic_guard_last ON true")
    # one statement per batch, on its own (autocommit: the statement is the batch's transaction)
    i = recorder.index(batches[1])
    assert not recorder[i - 1].startswith("BEGIN") and recorder[i + 1] == batches[2]
    assert "SET lock_timeout = '1000ms'" in recorder[:i]
    assert any(s.startswith("SET statement_timeout") for s in recorder[:i])
    assert "backfill public.orders (total): done, 2,500 rows updated, 2,500 scanned in 3 batches" in caplog.text


def test_backfill_where_composite_key_and_pause(conn, migration):
    conn.execute("CREATE TABLE m (tenant int, id int, v int, PRIMARY KEY (tenant, id));"
                 "INSERT INTO m SELECT t, g, NULL FROM generate_series(1, 3) t, generate_series(1, 70) g")
    started = time.monotonic()
    with migration() as op:
        result = op.backfill("m", set={"v": "tenant * 1000 + id"}, where="tenant <> 2", batch_size=40, pause_ms=10,
                             batch_target_ms=0)
    assert time.monotonic() - started > 5 * 0.010
    assert result.batches == 6 and result.rows_updated == 140
    assert conn.execute("SELECT count(*) FROM m WHERE v IS DISTINCT FROM "
                        "CASE WHEN tenant <> 2 THEN tenant * 1000 + id END").fetchone()[0] == 0


def test_duty_cycle_pauses_in_proportion_to_the_batches(conn, migration):
    conn.execute(ORDERS.format(n=3000))
    conn.execute("CREATE FUNCTION slow(int) RETURNS int LANGUAGE sql AS $$ SELECT pg_sleep(0.00002); SELECT $1 $$")
    with migration() as op:
        started = time.monotonic()
        result = op.backfill("orders", set={"total": "slow(price) * qty"}, batch_size=500, duty_cycle=0.25,
                             batch_target_ms=0)
        elapsed = time.monotonic() - started
    assert wrong_totals(conn) == 0 and result.batches == 6
    busy = sum(result.batch_ms[:-1]) / 1000  # no pause after the last batch
    assert elapsed >= busy + 3 * busy * 0.9  # pause = 3 × the batch before it
    with pytest.raises(GuardError, match="duty_cycle"):
        with migration() as op:
            op.backfill("orders", set={"total": "price * qty"}, duty_cycle=0)


def test_composite_key_batches_of_exactly_batch_size(conn, migration):
    conn.execute("CREATE TABLE c (tenant int, id int, v int, PRIMARY KEY (tenant, id));"
                 "INSERT INTO c SELECT t, g, NULL FROM generate_series(1, 4) t, generate_series(1, 5000) g;"
                 "ANALYZE c")
    with migration() as op:
        result = op.backfill("c", set={"v": "tenant + id"}, batch_size=1000, batch_target_ms=0)
    assert result.rows_updated == 20000 and result.batches == 20
    assert conn.execute("SELECT count(*) FROM c WHERE v IS DISTINCT FROM tenant + id").fetchone()[0] == 0


def test_table_without_primary_key_is_named_in_the_error(conn, migration):
    conn.execute("CREATE TABLE loose (a int)")
    with pytest.raises(GuardError, match=r"public\.loose has no primary key"):
        with migration() as op:
            op.backfill("loose", set={"a": "1"})
    conn.execute("CREATE UNIQUE INDEX ON loose (a); INSERT INTO loose SELECT generate_series(1, 10)")
    conn.execute("ALTER TABLE loose ADD COLUMN b int")
    with migration() as op:
        assert op.backfill("loose", set={"b": "a * 2"}, key_columns=["a"]).rows_updated == 10


def test_python_callback_variant(conn, migration):
    conn.execute(ORDERS.format(n=300))

    def compute(connection, batch):
        rows = batch.select(connection, "price", "qty")
        for key, price, qty in rows:
            connection.execute(sa.text("UPDATE orders SET total = :t WHERE id = :id"), {"t": price * qty, "id": key})
        return len(rows)

    with migration() as op:
        result = op.backfill("orders", callback=compute, batch_size=128, batch_target_ms=0)
    assert result.rows_updated == 300 and result.batches == 3
    assert wrong_totals(conn) == 0


def vacuum_count(conn, table: str) -> int:
    return conn.execute("SELECT vacuum_count FROM pg_stat_user_tables WHERE relid = %s::regclass",
                        [table]).fetchone()[0]


def test_a_long_backfill_vacuums_its_table_between_batches(conn, migration, recorder, caplog):
    # 29,000 rows in batches of 2,000: 14 full batches and a short last one; VACUUM every 10,000
    # rows written (the floor: 0.25 x 29,000 is less), so after batches 5 and 10, never after the last
    conn.execute(ORDERS.format(n=29_000))
    conn.execute("ANALYZE orders")
    caplog.set_level(logging.INFO, logger="alembic.guard.ops")
    before = vacuum_count(conn, "orders")
    with migration() as op:
        result = op.backfill("orders", set={"total": "price * qty"}, batch_size=2000, batch_target_ms=0,
                             vacuum_every=0.25)
    assert wrong_totals(conn) == 0 and result.rows_updated == 29_000 and result.batches == 15
    assert result.vacuums == 2 and 0 < result.vacuum_seconds <= result.seconds
    vacuums = [i for i, s in enumerate(recorder) if s == "VACUUM (SKIP_LOCKED, TRUNCATE false, PARALLEL 0) public.orders"]
    batches = [i for i, s in enumerate(recorder) if "UPDATE public.orders SET total" in s]
    assert len(vacuums) == 2 and [sum(b < v for b in batches) for v in vacuums] == [5, 10]
    assert vacuum_count(conn, "orders") == before + 2  # the server did vacuum the table
    assert "VACUUM every 10,000 rows written" in caplog.text and "2 VACUUM" in caplog.text


def test_vacuum_every_zero_never_vacuums_and_a_failed_vacuum_does_not_stop_the_backfill(conn, migration, recorder,
                                                                                         caplog):
    conn.execute(ORDERS.format(n=25_000))
    with migration() as op:
        result = op.backfill("orders", set={"total": "price * qty"}, batch_size=5000, batch_target_ms=0,
                             vacuum_every=0)
    assert result.vacuums == 0 and not any(s.startswith("VACUUM") for s in recorder)
    # a VACUUM cancelled by its statement_timeout (1 ms: the concurrent steps' timeout) is logged, and
    # the backfill finishes without further VACUUMs
    conn.execute("UPDATE orders SET total = NULL")
    caplog.set_level(logging.WARNING, logger="alembic.guard.ops")
    with migration() as op:
        result = op.backfill("orders", set={"total": "price * qty"}, batch_size=5000, batch_target_ms=0,
                             vacuum_every=0.01, concurrent_statement_timeout_ms=1)
    assert wrong_totals(conn) == 0 and result.rows_updated == 25_000 and result.vacuums == 0
    assert sum(s.startswith("VACUUM") for s in recorder) == 1
    assert "VACUUM between batches failed, the backfill goes on without it" in caplog.text


def test_vacuum_every_must_be_a_share():
    from alembic_guard.settings import Settings

    with pytest.raises(GuardError, match="vacuum_every must be a fraction in"):
        Settings(vacuum_every=1.5)
    assert Settings(vacuum_every=0).vacuum_every == 0


def test_statement_timeout_halves_the_batch(conn, migration, caplog):
    conn.execute(ORDERS.format(n=120))
    conn.execute("CREATE FUNCTION slow(int) RETURNS int LANGUAGE sql AS $$ SELECT pg_sleep(0.002); SELECT $1 $$")
    caplog.set_level(logging.WARNING, logger="alembic.guard.ops")
    with migration() as op:
        result = op.backfill("orders", set={"total": "slow(price) * qty"}, batch_size=120, statement_timeout_ms=100)
    assert wrong_totals(conn) == 0 and result.rows_updated == 120
    assert "halving the batch size" in caplog.text


def test_progress_bar_on_request(conn, migration, capsys):
    conn.execute(ORDERS.format(n=200))
    with migration() as op:
        op.backfill("orders", set={"total": "price * qty"}, batch_size=50, progress=True)
    err = capsys.readouterr().err
    assert "backfill public.orders" in err and "rows/s" in err and "200/200" in err


KILLABLE = textwrap.dedent("""
    import sys
    import sqlalchemy as sa
    from alembic.migration import MigrationContext
    from alembic.operations import Operations
    import alembic_guard.ops

    engine = sa.create_engine(sys.argv[1], poolclass=sa.pool.NullPool)
    with engine.connect() as connection:
        ctx = MigrationContext.configure(connection)
        with ctx.begin_transaction():
            Operations(ctx).backfill("orders", set={"total": "price * qty", "touched": "touched + 1"},
                                     where="total IS NULL", skip_unchanged=False, batch_size=50, pause_ms=15)
    print("finished")
""")


def test_sigkill_mid_way_then_rerun_loses_and_doubles_nothing(conn, db_url, migration, dbname):
    n = 4000
    conn.execute(ORDERS.format(n=n))
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    proc = subprocess.Popen([sys.executable, "-c", KILLABLE, db_url], env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + 30
        while conn.execute("SELECT count(*) FROM orders WHERE total IS NOT NULL").fetchone()[0] < 600:
            assert proc.poll() is None, proc.communicate()
            assert time.monotonic() < deadline
            time.sleep(0.02)
        proc.send_signal(signal.SIGKILL)
        assert proc.wait(10) == -signal.SIGKILL
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.communicate()
    # the server rolls back the batch in flight when it notices the dead client
    deadline = time.monotonic() + 10
    while conn.execute("SELECT count(*) FROM pg_stat_activity WHERE datname = %s AND pid <> pg_backend_pid()",
                       [dbname]).fetchone()[0]:
        assert time.monotonic() < deadline
        time.sleep(0.02)
    done = conn.execute("SELECT count(*) FROM orders WHERE total IS NOT NULL").fetchone()[0]
    assert 600 <= done < n
    assert done % 50 == 0  # whole batches only
    with migration() as op:
        result = op.backfill("orders", set={"total": "price * qty", "touched": "touched + 1"},
                             where="total IS NULL", skip_unchanged=False, batch_size=50)
    assert result.rows_updated == n - done
    assert wrong_totals(conn) == 0
    assert conn.execute("SELECT min(touched), max(touched) FROM orders").fetchone() == (1, 1)  # each row once
