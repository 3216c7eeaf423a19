"""Incremental catalog snapshots (trace/snapshots.py) give what the full snapshot gives: with
ALEMBIC_GUARD_VERIFY_SNAPSHOTS=1 every incremental one is compared with a full one (AssertionError on
a difference), over statements that create, rewrite, rename, move, drop and scan relations."""

from __future__ import annotations

import psycopg
import pytest

from alembic_guard.trace.catalog import snapshot as full_snapshot
from alembic_guard.trace.snapshots import Snapshots
from tests.helpers import run_revisions

BODY = """
op.execute("CREATE TABLE a (id bigint PRIMARY KEY, n int)")
op.execute("CREATE INDEX a_n_idx ON a (n)")
op.execute("INSERT INTO a SELECT g, g FROM generate_series(1, 50) g")
op.execute("UPDATE a SET n = n + 1")
op.execute("ALTER TABLE a ALTER COLUMN n TYPE bigint")
op.execute("ALTER TABLE a RENAME TO b")
op.execute("CREATE SCHEMA s")
op.execute("ALTER TABLE b SET SCHEMA s")
op.execute("ALTER SCHEMA s RENAME TO s2")
op.execute("SAVEPOINT sp")
op.execute("CREATE TABLE c (id int)")
op.execute("ROLLBACK TO SAVEPOINT sp")
op.execute("CREATE TABLE d (id int)")
op.execute("DROP TABLE d")
op.execute("ALTER TABLE s2.b ADD CONSTRAINT b_n_check CHECK (n > 0)")
op.execute("DELETE FROM s2.b WHERE id < 5")
op.execute("SAVEPOINT sp2")
op.execute("ALTER TABLE s2.b RENAME TO e")
op.execute("ALTER SCHEMA s2 RENAME TO s3")
op.execute("ROLLBACK TO SAVEPOINT sp2")
op.execute("SELECT count(*) FROM s2.b")
"""


def test_incremental_snapshots_match_full_ones(shadow, dbname, tmp_path, monkeypatch):
    monkeypatch.setenv("ALEMBIC_GUARD_VERIFY_SNAPSHOTS", "1")
    (rev,) = run_revisions(shadow, dbname, tmp_path, [BODY])
    assert rev.error is None, rev.error
    obs = [st.observation for st in rev.statements]
    assert "a" in obs[0].created and obs[4].rewritten  # the type change rewrote the table
    assert obs[13].dropped == ["d"]
    # the rolled-back renames bring the older row versions back: same count, other versions
    assert [st.sql for st in rev.statements][-1] == "SELECT count(*) FROM s2.b" and rev.error is None
    assert rev.unseen == []


# Changes made where the trace does not look (another statement on the connection, a subtransaction,
# another session's commit) between a snapshot and the next quiet one.
UNTRACED = [
    "CREATE TABLE made (id int)",
    "ALTER TABLE a RENAME TO a2",
    "ALTER TABLE a ALTER COLUMN n TYPE text",
    "DROP TABLE a",
    "ALTER SCHEMA s RENAME TO s2",
    "ALTER TABLE s.b SET SCHEMA public",
    "UPDATE a SET n = 0 WHERE id = 1",
    "SAVEPOINT q; CREATE TABLE made_in_sub (id int); RELEASE SAVEPOINT q",
    "SAVEPOINT q; DROP TABLE a; RELEASE SAVEPOINT q",
    "CREATE INDEX a_n_idx ON a (n)",
]


@pytest.mark.parametrize("untraced", UNTRACED)
def test_a_quiet_snapshot_is_reused_only_when_nothing_changed(shadow, dbname, monkeypatch, untraced):
    monkeypatch.setenv("ALEMBIC_GUARD_VERIFY_SNAPSHOTS", "1")  # the incremental path at any size
    with psycopg.connect(shadow.conninfo(dbname)) as conn:
        conn.execute("CREATE SCHEMA s; CREATE TABLE s.b (id int); "
                     "CREATE TABLE a (id bigint PRIMARY KEY, n int); INSERT INTO a VALUES (1, 1), (2, 2)")
        snaps = Snapshots()
        snaps.snapshot(conn)  # full (no state yet)
        snaps.snapshot(conn)  # incremental, records the quiet value
        first = snaps.snapshot(conn, quiet=True)
        assert snaps.reused == 1  # nothing ran in between: the quiet value alone answered
        conn.execute(untraced)
        after = snaps.snapshot(conn, quiet=True)
        assert snaps.reused == 1, "a change went unnoticed"
        assert after == full_snapshot(conn) != first
        snaps.snapshot(conn, quiet=True)
        assert snaps.reused == 2


@pytest.mark.parametrize("size", ["small", "incremental"])
def test_a_scan_between_two_statements_counts_for_the_next_one(shadow, dbname, monkeypatch, size):
    """A read writes no WAL: the quiet value misses it, and the snapshot after the next statement,
    which reads the statistics, gives it to that statement (trace/snapshots.py), never loses it."""
    if size == "incremental":
        monkeypatch.setenv("ALEMBIC_GUARD_VERIFY_SNAPSHOTS", "1")
    with psycopg.connect(shadow.conninfo(dbname)) as conn:
        conn.execute("CREATE TABLE a (id bigint PRIMARY KEY, n int); INSERT INTO a VALUES (1, 1)")
        snaps = Snapshots()
        snaps.snapshot(conn)
        snaps.snapshot(conn)
        first = snaps.snapshot(conn, quiet=True)
        conn.execute("SELECT count(*) FROM a")
        before = snaps.snapshot(conn, quiet=True)
        assert snaps.reused == 2 and before == first
        after = snaps.snapshot(conn)
        (oid,) = [o for o, r in after.items() if r.name == "a"]
        assert after == full_snapshot(conn) and after[oid].seq_scan == before[oid].seq_scan + 1


def test_a_quiet_snapshot_sees_another_sessions_commit(shadow, dbname, monkeypatch):
    monkeypatch.setenv("ALEMBIC_GUARD_VERIFY_SNAPSHOTS", "1")
    with psycopg.connect(shadow.conninfo(dbname)) as conn, \
            psycopg.connect(shadow.conninfo(dbname), autocommit=True) as other:
        conn.execute("CREATE TABLE a (id int)")
        snaps = Snapshots()
        snaps.snapshot(conn)
        snaps.snapshot(conn)
        other.execute("CREATE TABLE made_elsewhere (id int)")
        now = snaps.snapshot(conn, quiet=True)
        assert snaps.reused == 0 and any(r.name == "made_elsewhere" for r in now.values())


def test_an_untraced_change_between_traced_statements_is_still_seen(shadow, dbname, tmp_path, monkeypatch):
    monkeypatch.setenv("ALEMBIC_GUARD_VERIFY_SNAPSHOTS", "1")
    body = """
op.execute("CREATE TABLE a (id bigint PRIMARY KEY, n int)")
op.execute("COMMENT ON TABLE a IS 'one'")
raw = op.get_bind().connection.dbapi_connection.cursor()
raw.execute("CREATE TABLE made_raw (id int)")
raw.execute("ALTER TABLE a ALTER COLUMN n TYPE text")
op.execute("COMMENT ON TABLE a IS 'two'")
"""
    (rev,) = run_revisions(shadow, dbname, tmp_path, [body])
    assert rev.error is None, rev.error
    last = rev.statements[-1].observation
    assert last.created == [] and last.rewritten == []  # not blamed on the statement after them
    assert any("made_raw" in u for u in rev.unseen), rev.unseen


def test_own_rows_are_found_when_another_session_took_an_xid_first(shadow, dbname, monkeypatch):
    """age() counts from the xid a transaction had at its first call of it: here none yet, and
    another session's commit takes the next xid before this transaction's first write."""
    monkeypatch.setenv("ALEMBIC_GUARD_VERIFY_SNAPSHOTS", "1")  # every snapshot compared with a full one
    with psycopg.connect(shadow.conninfo(dbname)) as conn, \
            psycopg.connect(shadow.conninfo(dbname), autocommit=True) as other:
        conn.execute("SELECT 1")  # in a transaction, no xid yet
        snaps = Snapshots()
        snaps.snapshot(conn)
        snaps.snapshot(conn)  # incremental: age() called before the transaction has an xid
        other.execute("CREATE TABLE elsewhere (id int)")
        conn.execute("CREATE TABLE mine (id int)")
        assert any(r.name == "mine" for r in snaps.snapshot(conn).values())
        conn.execute("ALTER TABLE mine RENAME TO mine2")
        assert any(r.name == "mine2" for r in snaps.snapshot(conn, quiet=True).values())
        assert snaps.snapshot(conn, quiet=True) == full_snapshot(conn) and snaps.reused == 1


def test_an_in_place_truncate_does_not_hide_unseen_updates_elsewhere(shadow, dbname, monkeypatch):
    """TRUNCATE of a table created in the same transaction works in place: its pg_class row stays, and
    its update/delete counters fall back to 0. Unseen updates of as many rows of another table keep
    every plain sum of the counters unchanged; the snapshot must still see that they moved."""
    monkeypatch.setenv("ALEMBIC_GUARD_VERIFY_SNAPSHOTS", "1")  # a wrong reuse raises AssertionError
    with psycopg.connect(shadow.conninfo(dbname)) as conn:
        conn.execute("CREATE TABLE y (id int PRIMARY KEY, n int); "
                     "INSERT INTO y SELECT g, g FROM generate_series(1, 20) g")
        conn.commit()
        conn.execute("SET enable_seqscan = off")
        conn.execute("CREATE TABLE x (a int); INSERT INTO x SELECT generate_series(1, 5); UPDATE x SET a = a + 1")
        snaps = Snapshots()
        snaps.snapshot(conn)
        snaps.snapshot(conn)
        conn.execute("TRUNCATE x; UPDATE y SET n = n + 1 WHERE id <= 5")
        now = snaps.snapshot(conn, quiet=True)
        assert snaps.reused == 0
        assert now == full_snapshot(conn)
        assert {r.name: r.n_mod for r in now.values() if r.name in ("x", "y")} == {"x": 0, "y": 5}


def test_schemas_swapping_names_defeat_the_incremental_snapshot(shadow, dbname):
    """A blue/green swap (a -> tmp, b -> a, tmp -> b) changes no pg_class row, and the relation count and
    the multiset of every column's values stay the same: only a per-row hash sees it (a review caught a
    hash whose sum over rows was a sum per column)."""
    with psycopg.connect(shadow.conninfo(dbname), autocommit=True) as conn:
        for i in range(12):
            a, b = f"blue{i}", f"green{i}"
            with conn.transaction():
                for schema in (a, b):
                    conn.execute(f"CREATE SCHEMA {schema}")
                    conn.execute(f"CREATE TABLE {schema}.t (id int)")
            with conn.transaction():
                snaps = Snapshots(shadow.version_num)
                snaps._threshold = 0  # the incremental path at any catalog size
                snaps.snapshot(conn)  # full: the first of the transaction
                snaps.snapshot(conn)  # incremental from here on
                conn.execute(f"ALTER SCHEMA {a} RENAME TO swap{i}; ALTER SCHEMA {b} RENAME TO {a}; "
                             f"ALTER SCHEMA swap{i} RENAME TO {b}")
                assert snaps.snapshot(conn) == full_snapshot(conn), i
