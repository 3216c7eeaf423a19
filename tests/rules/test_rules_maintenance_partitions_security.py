"""VACUUM FULL/CLUSTER, REFRESH, REINDEX, partitions, RLS, storage changes and the generic rewrite rule."""

from __future__ import annotations

import pytest

from helpers import SCHEMA, SEED, describe, findings, rules_fired

AUTOCOMMIT = "with op.get_context().autocommit_block():\n    "
TIMEOUT = 'op.execute("SET LOCAL lock_timeout = \'2s\'")\n'


def ex(sql: str) -> str:
    return f"op.execute({sql!r})"


@pytest.mark.parametrize("body, what", [
    (AUTOCOMMIT + ex("VACUUM FULL t"), "VACUUM FULL rewrites t"),
    (ex("CLUSTER t USING t_pkey"), "CLUSTER rewrites t"),
])
def test_vacuum_full_or_cluster(run, body, what):
    rev = run(body)
    (f,) = findings(rev, "vacuum-full-or-cluster")
    assert f.severity == "error" and what in f.message and "pg_repack" in f.fix, describe(rev)
    assert rules_fired(rev, "error") == {"vacuum-full-or-cluster"}


def test_plain_vacuum_analyze_is_safe(run):
    rev = run(AUTOCOMMIT + ex("VACUUM ANALYZE t"))
    assert not rev.findings, describe(rev)


MV = "CREATE MATERIALIZED VIEW mv AS SELECT id FROM t; CREATE UNIQUE INDEX mv_id ON mv (id);"


def test_refresh_materialized_view(run):
    rev = run(ex("REFRESH MATERIALIZED VIEW mv"), extra=MV)
    (f,) = findings(rev, "refresh-materialized-view-non-concurrent")
    assert f.severity == "error" and f.table == "mv", describe(rev)
    assert 'op.execute("REFRESH MATERIALIZED VIEW CONCURRENTLY mv")' in f.fix
    assert rules_fired(rev, "error") == {"refresh-materialized-view-non-concurrent"}


def test_refresh_concurrently_is_not_an_error(run):
    rev = run(TIMEOUT + ex("REFRESH MATERIALIZED VIEW CONCURRENTLY mv"), extra=MV)
    assert not findings(rev, severity="error"), describe(rev)


def test_reindex(run):
    rev = run(ex("REINDEX TABLE t"))
    (f,) = findings(rev, "reindex-non-concurrent")
    assert f.severity == "error" and "REINDEX TABLE t" in f.message, describe(rev)
    assert f.fix == AUTOCOMMIT + 'op.execute("REINDEX (CONCURRENTLY) TABLE t")'
    assert rules_fired(rev, "error") == {"reindex-non-concurrent"}


def test_reindex_concurrently_in_autocommit_is_safe(run):
    rev = run(AUTOCOMMIT + ex("REINDEX TABLE CONCURRENTLY t"))
    assert not rev.findings, describe(rev)


PARTITIONS = """
CREATE TABLE m (id int, k int) PARTITION BY RANGE (k);
CREATE TABLE m_2 PARTITION OF m FOR VALUES FROM (100) TO (200);
CREATE TABLE m_1 (id int, k int);
INSERT INTO m_1 VALUES (1, 5);
"""


def test_attach_partition_scans(run):
    rev = run(TIMEOUT + ex("ALTER TABLE m ATTACH PARTITION m_1 FOR VALUES FROM (0) TO (100)"),
              setup=PARTITIONS + "CREATE TABLE m_default PARTITION OF m DEFAULT;")
    (f,) = findings(rev, "attach-partition-scans")
    assert f.severity == "error" and "m_1" in f.message and "m_default" in f.message, describe(rev)
    assert "ACCESS EXCLUSIVE on m_1" in f.message
    # the bound as a condition on the real partition key, on the partition and (negated) on the DEFAULT one
    assert "ALTER TABLE m_1 ADD CONSTRAINT m_1_partition_bound CHECK (k IS NOT NULL AND k >= 0 AND k < 100) NOT VALID" \
        in f.fix and 'op.validate_constraint("m_1_partition_bound", "m_1")' in f.fix
    assert "ALTER TABLE m_default ADD CONSTRAINT m_1_partition_bound CHECK (NOT" in f.fix
    assert "<partition key>" not in f.fix


def test_attach_partition_with_validated_check_is_safe(run):
    rev = run(TIMEOUT + ex("ALTER TABLE m_1 ADD CONSTRAINT m_1_bounds CHECK (k IS NOT NULL AND k >= 0 AND k < 100) "
                           "NOT VALID") + "\n"
              + AUTOCOMMIT + ex("ALTER TABLE m_1 VALIDATE CONSTRAINT m_1_bounds") + "\n"
              + TIMEOUT + ex("ALTER TABLE m ATTACH PARTITION m_1 FOR VALUES FROM (0) TO (100)") + "\n"
              + ex("ALTER TABLE m_1 DROP CONSTRAINT m_1_bounds"), setup=PARTITIONS)
    assert rev.verdict == "safe" and not rev.findings, describe(rev)


def test_detach_partition(run):
    rev = run(TIMEOUT + ex("ALTER TABLE m DETACH PARTITION m_2"), setup=PARTITIONS)
    (f,) = findings(rev, "detach-partition-non-concurrent")
    assert f.severity == "error" and "ACCESS EXCLUSIVE on m" in f.message, describe(rev)
    assert "DETACH PARTITION m_2 CONCURRENTLY" in f.fix and "autocommit_block" in f.fix


def test_detach_partition_concurrently_in_autocommit_is_safe(run):
    rev = run(AUTOCOMMIT + ex("ALTER TABLE m DETACH PARTITION m_2 CONCURRENTLY"), setup=PARTITIONS)
    assert not rev.findings, describe(rev)


def test_detach_partition_concurrently_in_transaction(run):
    rev = run(ex("ALTER TABLE m DETACH PARTITION m_2 CONCURRENTLY"), setup=PARTITIONS, allow_error=True)
    (f,) = findings(rev, "concurrently-in-transaction")
    assert "DETACH PARTITION CONCURRENTLY" in f.message, describe(rev)


RLS = "ALTER TABLE t ENABLE ROW LEVEL SECURITY; CREATE POLICY t_all ON t USING (true);"


def test_disable_row_level_security(run):
    rev = run(TIMEOUT + ex("ALTER TABLE t DISABLE ROW LEVEL SECURITY"), extra=RLS)
    (f,) = findings(rev, "disable-row-level-security")
    assert f.severity == "error" and "row-level security on t" in f.message, describe(rev)


def test_enable_row_level_security_is_safe(run):
    rev = run(TIMEOUT + ex("ALTER TABLE t ENABLE ROW LEVEL SECURITY"))
    assert not rev.findings, describe(rev)


def test_drop_policy_is_a_warning(run):
    rev = run(TIMEOUT + ex("DROP POLICY t_all ON t"), extra=RLS)
    (f,) = findings(rev, "drop-policy")
    assert f.severity == "warning" and "t_all ON t" in f.message and rev.verdict == "safe", describe(rev)


@pytest.mark.parametrize("sql", ["ALTER TABLE t SET UNLOGGED", "ALTER TABLE t SET ACCESS METHOD heap",
                                 "ALTER TABLE t SET TABLESPACE pg_default"])
def test_set_logged_tablespace_access_method(run, sql):
    rev = run(TIMEOUT + ex(sql))
    (f,) = findings(rev, "set-table-logged-tablespace-access-method")
    assert f.severity == "error" and f.table == "t" and "copies the whole table" in f.message, describe(rev)
    assert rules_fired(rev, "error") == {"set-table-logged-tablespace-access-method"}


def test_set_unlogged_on_new_table_is_safe(run):
    rev = run('op.create_table("fresh", sa.Column("id", sa.Integer))\n' + ex("ALTER TABLE fresh SET UNLOGGED"))
    assert not rev.findings, describe(rev)


GENERATED = "CREATE TABLE g (id int PRIMARY KEY, a int, c int GENERATED ALWAYS AS (a * 2) STORED);" \
            "INSERT INTO g (id, a) VALUES (1, 1);"


def test_trace_first_rule_is_the_fallback_for_a_rewrite(run):
    # SET EXPRESSION (PostgreSQL 17+) rewrites the table; no specific rule covers it.
    rev = run(TIMEOUT + ex("ALTER TABLE g ALTER COLUMN c SET EXPRESSION AS (a * 3)"), extra=GENERATED)
    (f,) = findings(rev, "blocking-lock-during-work")
    assert f.severity == "error" and f.table == "g" and "ACCESS EXCLUSIVE" in f.message, describe(rev)


def test_rewrite_of_new_table_is_safe(run):
    rev = run('op.create_table("fresh", sa.Column("id", sa.Integer), sa.Column("a", sa.Integer))\n'
              + ex("ALTER TABLE fresh ALTER COLUMN a TYPE bigint"), setup=SCHEMA + SEED)
    assert not rev.findings, describe(rev)
