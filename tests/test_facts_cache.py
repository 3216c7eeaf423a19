"""A revision's starting facts carried over from the previous revision (trace/facts_cache.py) are what
a full read gives: after every kind of change, in one transaction, per commit and in autocommit, with
another session's commit and a subtransaction in between, the carried facts equal keys.table_facts /
keys.unique_keys read afresh. Only the changed tables are read again in the usual case."""

from __future__ import annotations

import psycopg
import pytest

from alembic_guard.trace import facts_cache, keys
from alembic_guard.trace.catalog import fetch_all, snapshot
from alembic_guard.trace.facts_cache import RevisionFacts
from tests.helpers import run_revisions

SCHEMA = """
CREATE TABLE a (id bigint PRIMARY KEY, n int, m text);
CREATE TABLE b (id bigint PRIMARY KEY, a_id bigint CONSTRAINT b_a_fk REFERENCES a (id), k int);
CREATE INDEX b_k ON b (k);
CREATE TABLE p (id int, k int) PARTITION BY RANGE (k);
CREATE TABLE p1 PARTITION OF p FOR VALUES FROM (0) TO (10);
CREATE TABLE loose (id int);
CREATE TYPE mood AS ENUM ('ok', 'bad');
CREATE TABLE uses_mood (id int, md mood CONSTRAINT md_not_bad CHECK (md <> 'bad'));
CREATE TABLE rowt (x int);
CREATE TABLE uses_row (r rowt, rs rowt[]);
CREATE SCHEMA s;
CREATE TABLE s.c (id int PRIMARY KEY);
"""

# (change, whether the next read may carry the other tables' facts over: False when it must read all)
CHANGES = [
    ("ALTER TABLE a ADD COLUMN extra int", True),
    ("ALTER TABLE a RENAME COLUMN id TO a_key", True),  # b's REFERENCES a(...) text changes too
    ("ALTER TABLE a ALTER COLUMN n SET NOT NULL", True),  # pg_attribute only (no pg_class row)
    ("ALTER TABLE a ALTER COLUMN n TYPE bigint", True),
    ("ALTER TABLE a DROP COLUMN m", True),
    ("DROP INDEX b_k", True),  # deletes rows, writes none
    ("ALTER TABLE b DROP CONSTRAINT b_a_fk", False),  # deletes rows, writes none: the count tells
    ("ALTER TABLE loose ADD CONSTRAINT loose_u UNIQUE (id)", True),
    ("ALTER TABLE a RENAME TO a_renamed", True),
    ("ALTER TABLE p RENAME TO p_renamed", True),  # p1's parent name changes
    ("ALTER TABLE p DETACH PARTITION p1", True),
    ("CREATE TABLE p2 PARTITION OF p FOR VALUES FROM (10) TO (20)", True),
    ("ALTER TABLE loose ENABLE ROW LEVEL SECURITY", True),
    ("CREATE TABLE fresh (id int PRIMARY KEY, a_id bigint REFERENCES a (id))", True),
    ("DROP TABLE loose", True),
    ("DROP TABLE b", True),
    ("ALTER TYPE mood RENAME TO feeling", False),  # uses_mood's column type shows the new name
    ("ALTER TYPE mood RENAME VALUE 'bad' TO 'worse'", False),  # pg_enum only: md_not_bad's text changes
    ("ALTER TYPE mood ADD VALUE 'meh'", True),
    ("ALTER TABLE rowt RENAME TO rowt2", True),  # uses_row's column types show the new name
    ("ALTER TABLE rowt SET SCHEMA s", True),
    ("CREATE SCHEMA postgres; CREATE TABLE postgres.a (id int)", False),  # "$user" now finds another a
    ("CREATE TEMP TABLE scratch (id int)", False),  # its session's first: a pg_temp schema written
    ("ALTER TABLE b DROP CONSTRAINT b_a_fk; CREATE FOREIGN DATA WRAPPER dw; CREATE SERVER sv FOREIGN DATA WRAPPER dw;"
     " CREATE FOREIGN TABLE ft (x int CHECK (x > 0)) SERVER sv", False),  # the count is of tables' constraints
    ("ALTER SCHEMA s RENAME TO s2", False),
    ("ALTER TABLE s.c SET SCHEMA public", True),
    ("SET search_path = s, public", False),
    ("SAVEPOINT q; ALTER TABLE a ADD COLUMN sub int; RELEASE SAVEPOINT q", True),
    ("SELECT 1", True),
]


def _expected(conn) -> tuple[dict, dict]:
    return keys.table_facts(conn), keys.unique_keys(conn)


def _read(facts: RevisionFacts, conn) -> tuple[dict, dict]:
    unique, _published, tables = facts.read(conn, fetch_all(conn, facts.queries(conn)), snapshot(conn))
    return tables, unique


@pytest.mark.parametrize("mode", ["one transaction", "commit each", "autocommit"])
@pytest.mark.parametrize("change,carried", CHANGES, ids=[c for c, _ in CHANGES])
def test_carried_facts_equal_a_full_read(shadow, dbname, monkeypatch, mode, change, carried):
    monkeypatch.setenv("ALEMBIC_GUARD_VERIFY_SNAPSHOTS", "1")  # partial reads whatever the size
    with psycopg.connect(shadow.conninfo(dbname), autocommit=True) as setup:
        setup.execute(SCHEMA)
    with psycopg.connect(shadow.conninfo(dbname), autocommit=mode == "autocommit") as conn:
        facts = RevisionFacts()
        assert _read(facts, conn) == _expected(conn)
        if mode == "autocommit" and change.startswith("SAVEPOINT"):
            change = f"BEGIN; {change}; COMMIT"  # a subtransaction needs a transaction block
        conn.execute(change)
        if mode == "commit each":
            conn.commit()
        assert _read(facts, conn) == _expected(conn), "the carried facts went stale"
        assert (facts.full, facts.partial) == ((1, 1) if carried else (2, 0))
        conn.execute("ALTER TABLE uses_mood ADD COLUMN later int")  # and the read after it carries again
        assert _read(facts, conn) == _expected(conn)
        assert facts.partial == (2 if carried else 1)


def test_names_a_new_or_dropped_relation_shadows_are_read_again(shadow, dbname, monkeypatch):
    """Which schema comes first in search_path decides whether a name shows qualified: a new relation
    named like an older one elsewhere, or one dropped, changes other tables' definitions."""
    monkeypatch.setenv("ALEMBIC_GUARD_VERIFY_SNAPSHOTS", "1")
    with psycopg.connect(shadow.conninfo(dbname), autocommit=True) as setup:
        setup.execute(SCHEMA)
    with psycopg.connect(shadow.conninfo(dbname), autocommit=True) as conn:
        conn.execute("SET search_path = s, public")
        facts = RevisionFacts()
        for change in ("CREATE TABLE s.a (id bigint)", "DROP TABLE s.a", "CREATE TYPE s.mood AS ENUM ('x')"):
            _read(facts, conn)
            conn.execute(change)
            assert _read(facts, conn) == _expected(conn), change


def test_a_rolled_back_subtransaction_needs_a_full_read(shadow, dbname, monkeypatch):
    """Rows a subtransaction touched and then rolled back show neither a new xmin nor a new cmin (the
    older version is visible again, its cmin a combo command id): no partial read can see that, so
    after a ROLLBACK TO SAVEPOINT the tracer asks for a full read (``invalidate``)."""
    monkeypatch.delenv("ALEMBIC_GUARD_VERIFY_SNAPSHOTS", raising=False)
    monkeypatch.setattr(facts_cache, "SMALL", 0)
    rollback = ("ALTER TABLE zz0 ADD COLUMN x int; SAVEPOINT s; ALTER TABLE zz0 RENAME COLUMN x TO y;"
                " ALTER TABLE zz0 RENAME TO z_tmp; ROLLBACK TO SAVEPOINT s")
    for invalidate in (False, True):
        with psycopg.connect(shadow.conninfo(dbname)) as conn:
            for i in range(6):
                conn.execute(f"CREATE TABLE zz{i} (i int)")
            facts = RevisionFacts()
            _read(facts, conn)
            conn.execute(rollback)
            if invalidate:
                facts.invalidate()
            assert (_read(facts, conn) == _expected(conn)) is invalidate
            conn.rollback()


def test_the_tracer_asks_for_a_full_read_after_a_rollback(shadow, dbname, tmp_path, monkeypatch):
    calls = []
    monkeypatch.setattr(RevisionFacts, "invalidate", lambda self: calls.append(1))
    revs = run_revisions(shadow, dbname, tmp_path, [
        'op.execute("CREATE TABLE z0 (i int)")',
        'sp = op.get_bind().begin_nested()\nop.execute("ALTER TABLE z0 ADD COLUMN x int")\nsp.rollback()',
        'op.execute("SELECT 1")',
    ], transaction_per_migration=False)
    assert all(r.error is None for r in revs), [r.error for r in revs]
    assert calls, "ROLLBACK TO SAVEPOINT did not make the next read a full one"


def test_another_sessions_commit_is_seen(shadow, dbname, monkeypatch):
    monkeypatch.setenv("ALEMBIC_GUARD_VERIFY_SNAPSHOTS", "1")
    with psycopg.connect(shadow.conninfo(dbname), autocommit=True) as setup:
        setup.execute(SCHEMA)
    with psycopg.connect(shadow.conninfo(dbname)) as conn, \
            psycopg.connect(shadow.conninfo(dbname), autocommit=True) as other:
        facts = RevisionFacts()
        _read(facts, conn)
        conn.commit()
        other.execute("ALTER TABLE loose ALTER COLUMN id SET NOT NULL")  # pg_attribute only
        other.execute("CREATE UNIQUE INDEX loose_id ON loose (id)")
        assert _read(facts, conn) == _expected(conn)
        assert facts.partial == 1


def test_only_the_changed_tables_are_read_again(shadow, dbname, monkeypatch):
    """The reason for the cache: a revision touching one table reads one table's facts (plus the
    tables whose foreign keys name it), not every table's."""
    monkeypatch.setenv("ALEMBIC_GUARD_VERIFY_SNAPSHOTS", "1")
    with psycopg.connect(shadow.conninfo(dbname), autocommit=True) as setup:
        setup.execute(SCHEMA)
        setup.execute("CREATE TABLE refers (id int REFERENCES a (id))")
    with psycopg.connect(shadow.conninfo(dbname)) as conn:
        facts = RevisionFacts()
        _read(facts, conn)
        conn.execute("ALTER TABLE a ADD COLUMN extra int")
        assert _read(facts, conn) == _expected(conn)
        assert facts.reread == ["a", "b", "refers"]


def test_a_traced_history_carries_the_facts(shadow, dbname, tmp_path, monkeypatch):
    """Through the tracer, in Alembic's default one transaction per migration and with the
    comparison to a full read switched on (AssertionError on any difference)."""
    monkeypatch.setenv("ALEMBIC_GUARD_VERIFY_SNAPSHOTS", "1")
    revs = run_revisions(shadow, dbname, tmp_path, [
        'op.create_table("t1", sa.Column("id", sa.BigInteger, primary_key=True), sa.Column("v", sa.Text))',
        'op.add_column("t1", sa.Column("w", sa.Integer))',
        'op.create_index("ix_t1_w", "t1", ["w"], unique=True)',
        'op.drop_index("ix_t1_w", table_name="t1")',
        'op.alter_column("t1", "v", nullable=False)',
        'op.execute("SELECT 1")',
    ])
    assert all(r.error is None for r in revs), [r.error for r in revs]
    by_id = {r.revision: r for r in revs}
    assert list(by_id["r2"].tables["t1"].columns) == ["id", "v"]
    assert list(by_id["r3"].tables["t1"].columns) == ["id", "v", "w"]
    assert ("w",) in by_id["r4"].unique_keys["t1"]
    assert ("w",) not in by_id["r5"].unique_keys["t1"] and "ix_t1_w" not in by_id["r5"].tables["t1"].indexes
    assert "v" in by_id["r6"].tables["t1"].not_null


def test_a_small_schema_is_read_whole_until_it_grows(shadow, dbname, monkeypatch):
    """Below ``SMALL`` tables a full read is cheaper than the partial one's passes over the catalogs."""
    monkeypatch.delenv("ALEMBIC_GUARD_VERIFY_SNAPSHOTS", raising=False)  # it reads partially at any size
    monkeypatch.setattr(facts_cache, "SMALL", 3)
    with psycopg.connect(shadow.conninfo(dbname)) as conn:
        facts = RevisionFacts()
        conn.execute("CREATE TABLE one (id int)")
        for _ in range(2):
            assert _read(facts, conn) == _expected(conn)
        assert (facts.full, facts.partial) == (2, 0)
        conn.execute("CREATE TABLE two (id int); CREATE TABLE three (id int)")
        assert _read(facts, conn) == _expected(conn)  # sees 3 tables: the next full read keeps a mark
        assert _read(facts, conn) == _expected(conn)
        conn.execute("ALTER TABLE two ADD COLUMN n int")
        assert _read(facts, conn) == _expected(conn)
        assert (facts.full, facts.partial, facts.reread) == (4, 1, ["two"])
