"""Incremental catalog snapshots (trace/snapshots.py) give what the full snapshot gives: with
ALEMBIC_GUARD_VERIFY_SNAPSHOTS=1 every incremental one is compared with a full one (AssertionError on
a difference), over statements that create, rewrite, rename, move, drop and scan relations."""

from __future__ import annotations

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
"""


def test_incremental_snapshots_match_full_ones(shadow, dbname, tmp_path, monkeypatch):
    monkeypatch.setenv("ALEMBIC_GUARD_VERIFY_SNAPSHOTS", "1")
    (rev,) = run_revisions(shadow, dbname, tmp_path, [BODY])
    assert rev.error is None, rev.error
    obs = [st.observation for st in rev.statements]
    assert "a" in obs[0].created and obs[4].rewritten  # the type change rewrote the table
    assert obs[13].dropped == ["d"]
    assert rev.unseen == []
