"""Safe operations that leave the application alone: the index build's parallelism cap (set in
the build's own session, restored after), the backfill's adaptive batch size (a slow batch shrinks
the next one) and duty cycle (it backs off when batches get suddenly slower, not when
their cost drifts slowly)."""

from __future__ import annotations

import pytest
import sqlalchemy as sa

from alembic_guard.errors import GuardError
from alembic_guard.ops._backfill_pace import BatchPace
from alembic_guard.settings import Settings


@pytest.fixture
def settings_at_build(engine):
    """``max_parallel_maintenance_workers`` read from the migration's own session (its psycopg
    connection) right before each CREATE INDEX statement runs."""
    seen: list[str] = []

    def before(conn, cursor, statement, parameters, context, executemany):
        if statement.lstrip().upper().startswith(("CREATE INDEX", "CREATE UNIQUE INDEX")):
            seen.append(cursor.connection.execute("SHOW max_parallel_maintenance_workers").fetchone()[0])

    sa.event.listen(engine, "before_cursor_execute", before)
    yield seen
    sa.event.remove(engine, "before_cursor_execute", before)


def session_workers(op) -> str:
    return op.get_bind().exec_driver_sql("SHOW max_parallel_maintenance_workers").scalar()


def test_index_build_caps_parallel_workers_in_its_session_and_restores(conn, migration, settings_at_build):
    conn.execute("CREATE TABLE t (id int PRIMARY KEY, a int, b int); INSERT INTO t SELECT g, g, g FROM generate_series(1, 100) g")
    with migration() as op:
        op.get_bind().exec_driver_sql("SET max_parallel_maintenance_workers = 3")  # the session's own value
        op.create_index_concurrently("ix_t_a", "t", ["a"])  # default: 0
        after_default = session_workers(op)
        op.create_index_concurrently("ix_t_b", "t", ["b"], max_parallel_maintenance_workers=1)
        op.add_unique_constraint_using_index("uq_t_ab", "t", ["a", "b"], max_parallel_maintenance_workers="server")
        after_all = session_workers(op)
    assert settings_at_build == ["0", "1", "3"]  # "server": the session's value is left alone
    assert after_default == after_all == "3"


def test_parallel_workers_setting_validated_and_rendered_offline(alembic_project):
    with pytest.raises(GuardError, match="max_parallel_maintenance_workers"):
        Settings(max_parallel_maintenance_workers=-1)
    assert Settings(max_parallel_maintenance_workers="server").max_parallel_maintenance_workers is None
    project = alembic_project(['op.execute("CREATE TABLE t (id int PRIMARY KEY, a int)")',
                               'op.create_index_concurrently("ix_t_a", "t", ["a"])'],
                              pyproject="[tool.alembic-guard]\nmax_parallel_maintenance_workers = 1\n")
    script = project.offline()
    assert ("SET max_parallel_maintenance_workers = 1;\nCREATE INDEX CONCURRENTLY IF NOT EXISTS ix_t_a ON t (a);\n"
            "RESET max_parallel_maintenance_workers;") in script


def test_a_slow_batch_shrinks_the_next_and_fast_ones_grow(conn, migration):
    # one row makes its batch slow, deterministically: a trigger sleeps 0.3 s when it is updated
    conn.execute("""
        CREATE TABLE t (id int PRIMARY KEY, v int);
        INSERT INTO t SELECT g, NULL FROM generate_series(1, 6000) g;
        CREATE FUNCTION slow_row() RETURNS trigger LANGUAGE plpgsql AS
          $$ BEGIN IF NEW.id = 2000 THEN PERFORM pg_sleep(0.3); END IF; RETURN NEW; END $$;
        CREATE TRIGGER slow_row BEFORE UPDATE ON t FOR EACH ROW EXECUTE FUNCTION slow_row();
    """)
    with migration() as op:
        result = op.backfill("t", set={"v": "id"}, batch_size=200, batch_target_ms=80, batch_max_ms=100,
                             duty_cycle=1.0)
    assert result.rows_updated == 6000
    assert conn.execute("SELECT count(*) FROM t WHERE v IS DISTINCT FROM id").fetchone()[0] == 0
    rows, ms = result.batch_rows, result.batch_ms
    ends = [sum(rows[:i + 1]) for i in range(len(rows))]
    slow = next(i for i, end in enumerate(ends) if end >= 2000)  # the batch holding id 2000
    assert ms[slow] >= 300
    assert slow >= 1 and max(rows[:slow + 1]) > 200  # fast batches (well under 80 ms) grew
    # over batch_max_ms: the next batch is sized to take the target at the slow batch's rate
    assert rows[slow + 1] <= rows[slow] * 80 / 300 + 1


def test_duty_cycle_falls_when_batches_slow_down_and_recovers():
    pace = BatchPace.from_settings(Settings(batch_target_ms=0, duty_cycle=0.9, min_duty_cycle=0.5))
    pauses = [pace.after(1000, 0.010) for _ in range(5)]  # the reference: 10 µs per row
    assert pace.duty == 0.9 and all(p == pytest.approx(0.010 * 0.1 / 0.9) for p in pauses)
    pace.after(1000, 0.012)  # 1.2× is noise
    assert pace.duty == 0.9
    for _ in range(20):  # the server got busy: every batch takes 4× as long
        pause = pace.after(1000, 0.040)
    assert pace.duty == 0.5 and pause == pytest.approx(0.040)  # the floor: batches half of wall time
    for _ in range(20):
        pace.after(1000, 0.010)
    assert pace.duty == 0.9
    assert pace.size == 1000  # batch_target_ms = 0: fixed size


def test_batch_size_follows_the_target_within_bounds():
    pace = BatchPace.from_settings(Settings(batch_size=1000, batch_target_ms=50, batch_max_ms=100,
                                            max_batch_size=3000))
    pace.after(1000, 0.010)
    assert pace.size == 2000  # at most ×2 per batch
    pace.after(2000, 0.010)
    assert pace.size == 3000  # max_batch_size
    pace.after(3000, 0.080)  # slower than the target, under the cap: at most ×½
    assert pace.size == int(3000 * 50 / 80)
    pace.after(pace.size, 0.500)  # over batch_max_ms: straight to the target's size
    assert pace.size == int(1875 * 50 / 500)


def test_duty_cycle_follows_the_backfills_own_drift_but_not_a_sudden_slowdown():
    # a backfill's cost per row rises as it goes on an idle server (bottom-up deletion of the dead
    # index entries of earlier batches): +1% per batch, 2.7x over 100 batches, is not contention
    pace = BatchPace.from_settings(Settings(batch_target_ms=0, duty_cycle=1.0, min_duty_cycle=0.5))
    seconds = 0.010
    for _ in range(100):
        pause = pace.after(1000, seconds)
        assert pace.duty == 1.0 and pause == 0
        seconds *= 1.01
    for _ in range(10):  # the server got busy: 4x as long at once
        pace.after(1000, seconds * 4)
    assert pace.duty == 0.5
    for _ in range(50):  # a slowdown that lasts is not absorbed into the reference
        pace.after(1000, seconds * 4)
    assert pace.duty == 0.5
    for _ in range(10):
        pace.after(1000, seconds)
    assert pace.duty == 1.0


def test_contention_that_builds_up_slowly_is_throttled_past_the_drift_cap():
    # +3% per batch for 150 batches (85x): the reference follows up to MAX_DRIFT x the first one,
    # then the slowdown crosses the tolerance and the duty cycle falls
    from alembic_guard.ops._backfill_pace import MAX_DRIFT, TOLERANCE

    pace = BatchPace.from_settings(Settings(batch_target_ms=0, duty_cycle=1.0, min_duty_cycle=0.5))
    seconds = 0.010
    for _ in range(150):
        pace.after(1000, seconds)
        seconds *= 1.03
    assert pace.reference == pytest.approx(MAX_DRIFT * pace.first_reference)
    assert pace.slowdown > TOLERANCE and pace.duty == 0.5
