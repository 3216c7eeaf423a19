"""run_with_lock_timeout: own transaction, SET LOCAL timeouts, retry on 55P03 with the blocker logged."""

from __future__ import annotations

import logging
import threading
import time

import psycopg
import pytest

from alembic_guard.ops import LockRetryExhausted


def hold_lock(shadow, dbname, sql: str, release_after: float | None):
    """Open a transaction in another connection holding a lock; release it from a thread."""
    holder = psycopg.connect(shadow.conninfo(dbname), autocommit=True)
    holder.execute("SET application_name = 'long report'")
    holder.execute("BEGIN")
    holder.execute(sql)

    def release():
        time.sleep(release_after)
        holder.execute("COMMIT")
        holder.close()

    thread = threading.Thread(target=release, daemon=True) if release_after is not None else None
    if thread:
        thread.start()
    return holder, thread


def test_retry_until_the_conflicting_lock_is_released(shadow, dbname, conn, migration, caplog, recorder):
    conn.execute("CREATE TABLE orders (id int PRIMARY KEY, note text)")
    conn.execute("INSERT INTO orders VALUES (1, 'a')")
    _, thread = hold_lock(shadow, dbname, "SELECT * FROM orders", release_after=1.0)
    caplog.set_level(logging.INFO, logger="alembic.guard.ops")
    started = time.monotonic()
    with migration() as op:
        op.execute("CREATE TABLE before_step (id int)")  # committed by the op's autocommit block
        op.run_with_lock_timeout("ALTER TABLE orders ADD COLUMN shipped_at timestamptz",
                                 lock_timeout_ms=200, attempts=30, retry_backoff_min_ms=50,
                                 retry_backoff_max_ms=200)
        op.execute("CREATE TABLE after_step (id int)")
    elapsed = time.monotonic() - started
    thread.join()
    assert 0.9 < elapsed < 10
    assert conn.execute("SELECT count(*) FROM information_schema.columns WHERE table_name = 'orders' "
                        "AND column_name = 'shipped_at'").fetchone()[0] == 1
    assert conn.execute("SELECT to_regclass('after_step') IS NOT NULL").fetchone()[0]
    retries = [r for r in caplog.records if "retrying in" in r.getMessage()]
    assert retries, caplog.text
    first = retries[0].getMessage()
    # what it waited for, seen from the side connection: the lock, the relation, the holder
    assert "AccessExclusiveLock on relation orders" in first
    assert "long report" in first and "AccessShareLock" in first
    assert "lock_not_available" in first
    assert any("succeeded on attempt" in r.getMessage() for r in caplog.records)
    # its own transaction, with SET LOCAL timeouts, after Alembic's transaction was committed
    main = [s for s in recorder if not s.startswith("SELECT w.locktype")]  # minus the side look-ups
    attempts = [i for i, s in enumerate(main) if s.startswith("ALTER TABLE orders ADD COLUMN")]
    assert len(attempts) > 1 and all(main[i + 1] == "ROLLBACK" for i in attempts[:-1])
    i = attempts[-1]
    assert main[i - 3:i] == ["BEGIN", "SET LOCAL lock_timeout = '200ms'", "SET LOCAL statement_timeout = '5000ms'"]
    assert main[i + 1] == "COMMIT"


def test_gives_up_after_the_attempts(shadow, dbname, conn, migration):
    conn.execute("CREATE TABLE t (id int)")
    holder, _ = hold_lock(shadow, dbname, "LOCK TABLE t IN ACCESS SHARE MODE", release_after=None)
    try:
        with pytest.raises(LockRetryExhausted) as info:
            with migration() as op:
                op.run_with_lock_timeout(["ALTER TABLE t ADD COLUMN a int"], lock_timeout_ms=150, attempts=3,
                                         retry_backoff_min_ms=10, retry_backoff_max_ms=20)
        assert info.value.attempts == 3
        assert len(info.value.waits) == 3
        assert "relation t" in info.value.waits[-1]
    finally:
        holder.close()
    assert conn.execute("SELECT count(*) FROM information_schema.columns WHERE table_name = 't'").fetchone()[0] == 1


def test_total_time_budget_stops_retries(shadow, dbname, conn, migration):
    conn.execute("CREATE TABLE t (id int)")
    holder, _ = hold_lock(shadow, dbname, "LOCK TABLE t IN ACCESS SHARE MODE", release_after=None)
    try:
        started = time.monotonic()
        with pytest.raises(LockRetryExhausted):
            with migration() as op:
                op.run_with_lock_timeout("ALTER TABLE t ADD COLUMN a int", lock_timeout_ms=100, attempts=1000,
                                         retry_max_total_ms=600, retry_backoff_min_ms=50, retry_backoff_max_ms=100)
        assert time.monotonic() - started < 3
    finally:
        holder.close()


def test_callable_sees_its_own_transaction_and_timeouts(migration, conn):
    conn.execute("CREATE TABLE t (id int)")

    def step(connection):
        connection.exec_driver_sql("INSERT INTO t VALUES (1)")
        return connection.exec_driver_sql(
            "SELECT current_setting('lock_timeout'), current_setting('statement_timeout'), "
            "now() = statement_timestamp()").fetchone()

    with migration() as op:
        lock_timeout, statement_timeout, _ = op.run_with_lock_timeout(step, lock_timeout_ms=321,
                                                                      statement_timeout_ms=4321)
    assert (lock_timeout, statement_timeout) == ("321ms", "4321ms")
    assert conn.execute("SELECT count(*) FROM t").fetchone()[0] == 1


def test_a_failing_statement_rolls_back_its_transaction_and_is_not_retried(migration, conn):
    conn.execute("CREATE TABLE t (id int PRIMARY KEY)")
    with pytest.raises(Exception) as info:
        with migration() as op:
            op.run_with_lock_timeout(["INSERT INTO t VALUES (1)", "INSERT INTO t VALUES (1)"])
    assert getattr(info.value.orig, "sqlstate", None) == "23505"
    assert conn.execute("SELECT count(*) FROM t").fetchone()[0] == 0


def test_statement_timeout_is_not_retried(migration, conn):
    with pytest.raises(Exception) as info:
        with migration() as op:
            op.run_with_lock_timeout("SELECT pg_sleep(1)", statement_timeout_ms=100, attempts=5)
    assert getattr(info.value.orig, "sqlstate", None) == "57014"
