"""create_index_concurrently / drop_index_concurrently on the real server."""

from __future__ import annotations

import logging

import psycopg
import pytest
import sqlalchemy as sa

from alembic_guard.errors import GuardError


def index_state(conn, name: str):
    return conn.execute("SELECT i.indisvalid, pg_get_indexdef(i.indexrelid) FROM pg_index i "
                        "WHERE i.indexrelid = to_regclass(%s)", [name]).fetchone()


def test_concurrent_build_idempotent_and_outside_the_transaction(conn, migration, recorder):
    conn.execute("CREATE TABLE t (id int PRIMARY KEY, email text, a int)")
    conn.execute("INSERT INTO t SELECT g, 'u' || g || '@X', g % 7 FROM generate_series(1, 2000) g")
    with migration() as op:
        op.create_index_concurrently("ix_t_email", "t", [sa.text("lower(email)")], where="a > 0", include=["id"])
        op.create_index_concurrently("ix_t_email", "t", [sa.text("lower(email)")], where="a > 0", include=["id"])
    valid, definition = index_state(conn, "ix_t_email")
    assert valid
    assert definition == ("CREATE INDEX ix_t_email ON public.t USING btree (lower(email)) INCLUDE (id) WHERE (a > 0)")
    builds = [s for s in recorder if s.startswith("CREATE INDEX")]
    assert builds == ["CREATE INDEX CONCURRENTLY IF NOT EXISTS ix_t_email ON public.t ((lower(email))) "
                      "INCLUDE (id) WHERE a > 0"]  # the rerun found the valid index and did nothing


def test_invalid_leftover_is_dropped_and_rebuilt(conn, migration, caplog):
    conn.execute("CREATE TABLE t (id int PRIMARY KEY, code int)")
    conn.execute("INSERT INTO t SELECT g, g FROM generate_series(1, 1000) g")
    conn.execute("INSERT INTO t VALUES (1001, 5)")  # duplicate code
    with pytest.raises(psycopg.errors.UniqueViolation):
        conn.execute("CREATE UNIQUE INDEX CONCURRENTLY ix_code ON t (code)")
    assert index_state(conn, "ix_code")[0] is False  # the INVALID leftover of a failed build
    conn.execute("DELETE FROM t WHERE id = 1001")
    caplog.set_level(logging.INFO, logger="alembic.guard.ops")
    with migration() as op:
        op.create_index_concurrently("ix_code", "t", ["code"], unique=True)
    assert index_state(conn, "ix_code")[0] is True
    assert "INVALID" in caplog.text


def test_failed_unique_build_leaves_no_invalid_index(conn, migration):
    conn.execute("CREATE TABLE t (id int PRIMARY KEY, code int)")
    conn.execute("INSERT INTO t VALUES (1, 1), (2, 1)")
    with pytest.raises(sa.exc.IntegrityError):
        with migration() as op:
            op.create_index_concurrently("ix_code", "t", ["code"], unique=True)
    assert index_state(conn, "ix_code") is None  # an INVALID unique index would still reject new rows
    conn.execute("INSERT INTO t VALUES (3, 1)")


def test_name_taken_by_an_index_on_another_table(conn, migration):
    conn.execute("CREATE TABLE a (id int); CREATE TABLE b (id int); CREATE INDEX ix ON a (id)")
    with pytest.raises(GuardError, match="another table"):
        with migration() as op:
            op.create_index_concurrently("ix", "b", ["id"])


PARTITIONED = """
CREATE TABLE events (id bigint NOT NULL, region text NOT NULL, at date NOT NULL, payload int)
    PARTITION BY RANGE (at);
CREATE TABLE events_2024 PARTITION OF events FOR VALUES FROM ('2024-01-01') TO ('2025-01-01');
CREATE TABLE events_2025 PARTITION OF events FOR VALUES FROM ('2025-01-01') TO ('2026-01-01')
    PARTITION BY LIST (region);
CREATE TABLE events_2025_eu PARTITION OF events_2025 FOR VALUES IN ('eu');
CREATE TABLE events_2025_us PARTITION OF events_2025 FOR VALUES IN ('us');
INSERT INTO events SELECT g, CASE WHEN g % 2 = 0 THEN 'eu' ELSE 'us' END,
    date '2024-06-01' + (g % 400), g FROM generate_series(1, 3000) g;
"""

TREE = """
SELECT c.relname, i.indisvalid, (SELECT p.relname FROM pg_inherits h JOIN pg_class p ON p.oid = h.inhparent
                                 WHERE h.inhrelid = c.oid)
FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid
WHERE i.indexrelid IN (SELECT relid FROM pg_partition_tree('ix_events_payload'))
ORDER BY 1
"""


def test_partitioned_table_with_sub_partitions(conn, migration, recorder):
    conn.execute(PARTITIONED)
    with migration() as op:
        op.create_index_concurrently("ix_events_payload", "events", ["payload"])
    rows = conn.execute(TREE).fetchall()
    # the names PostgreSQL gives when the parent's index is built in one go: same catalog either way
    assert rows == [
        ("events_2024_payload_idx", True, "ix_events_payload"),
        ("events_2025_eu_payload_idx", True, "events_2025_payload_idx"),
        ("events_2025_payload_idx", True, "ix_events_payload"),
        ("events_2025_us_payload_idx", True, "events_2025_payload_idx"),
        ("ix_events_payload", True, None),
    ]
    conn.execute("DROP INDEX ix_events_payload")
    conn.execute("CREATE INDEX ix_events_payload ON events (payload)")  # what PostgreSQL itself does
    assert conn.execute(TREE).fetchall() == rows
    assert "CREATE INDEX IF NOT EXISTS ix_events_payload ON ONLY public.events (payload)" in recorder
    assert "CREATE INDEX CONCURRENTLY IF NOT EXISTS events_2024_payload_idx ON public.events_2024 (payload)" \
        in recorder
    assert any(s.startswith("ALTER INDEX public.ix_events_payload ATTACH PARTITION") for s in recorder)
    recorder.clear()
    with migration() as op:  # rerun: nothing to do
        op.create_index_concurrently("ix_events_payload", "events", ["payload"])
    assert not [s for s in recorder if s.startswith(("CREATE INDEX", "ALTER INDEX"))]


def test_partitioned_build_resumes_after_an_interruption(conn, migration):
    conn.execute(PARTITIONED)
    # as if a previous run died after the ON ONLY step and one partition
    conn.execute("CREATE INDEX ix_events_payload ON ONLY events (payload)")
    conn.execute("CREATE INDEX CONCURRENTLY events_2024_ix_events_payload ON events_2024 (payload)")
    conn.execute("ALTER INDEX ix_events_payload ATTACH PARTITION events_2024_ix_events_payload")
    # a matching index a previous run left on a sub-partitioned partition, not yet attached
    conn.execute("CREATE INDEX ON ONLY events_2025 (payload)")
    assert index_state(conn, "ix_events_payload")[0] is False
    with migration() as op:
        op.create_index_concurrently("ix_events_payload", "events", ["payload"])
    assert index_state(conn, "ix_events_payload")[0] is True
    rows = conn.execute(TREE).fetchall()
    assert len(rows) == 5 and all(valid for _, valid, _ in rows)
    # adopted, as PostgreSQL's own CREATE INDEX on the parent adopts a matching index of a partition
    assert ("events_2025_payload_idx", True, "ix_events_payload") in rows


def test_drop_index_concurrently(conn, migration, recorder):
    conn.execute("CREATE TABLE t (id int PRIMARY KEY, a int); CREATE INDEX ix_a ON t (a)")
    with migration() as op:
        op.drop_index_concurrently("ix_a")
        op.drop_index_concurrently("ix_a")  # if_exists
    assert index_state(conn, "ix_a") is None
    assert "DROP INDEX CONCURRENTLY IF EXISTS public.ix_a" in recorder
    with pytest.raises(GuardError, match="does not exist"):
        with migration() as op:
            op.drop_index_concurrently("ix_a", if_exists=False)
    with pytest.raises(GuardError, match="backs constraint"):
        with migration() as op:
            op.drop_index_concurrently("t_pkey", table_name="t")


def test_drop_partitioned_index_falls_back_to_plain_drop(conn, migration, recorder):
    conn.execute(PARTITIONED)
    conn.execute("CREATE INDEX ix_events_payload ON events (payload)")
    with migration() as op:
        op.drop_index_concurrently("ix_events_payload")
    assert index_state(conn, "ix_events_payload") is None
    assert "DROP INDEX IF EXISTS public.ix_events_payload" in recorder
