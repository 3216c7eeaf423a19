"""schema_compare reads pg_catalog and reports differences between two databases in words."""

from __future__ import annotations

import psycopg
import pytest

from alembic_guard.schema_compare import compare_catalogs, read_catalog
from alembic_guard.shadow import scratch_database

BASE = """
CREATE TABLE t (id int PRIMARY KEY, a int, b text DEFAULT 'x');
CREATE TABLE p (id int, k date) PARTITION BY RANGE (k);
CREATE TABLE p_2026 PARTITION OF p FOR VALUES FROM ('2026-01-01') TO ('2027-01-01');
ALTER TABLE t ENABLE ROW LEVEL SECURITY;
CREATE POLICY own ON t USING (a > 0);
"""


@pytest.fixture
def two(shadow):
    with scratch_database(shadow) as a, scratch_database(shadow) as b:
        for db in (a, b):
            with psycopg.connect(shadow.conninfo(db), autocommit=True) as c:
                c.execute(BASE)
        yield shadow.conninfo(a), shadow.conninfo(b)


def _run(conninfo: str, sql: str) -> None:
    with psycopg.connect(conninfo, autocommit=True) as c:
        c.execute(sql)


def test_equal_schemas_compare_equal(two):
    a, b = two
    assert compare_catalogs(read_catalog(a), read_catalog(b)) == []


@pytest.mark.parametrize("left, right, expected", [
    ("ALTER TABLE t ALTER a SET NOT NULL", "", "column t.a: not null is yes in the original, no in the rewrite"),
    ("ALTER TABLE t ADD CONSTRAINT c CHECK (a > 0)", "ALTER TABLE t ADD CONSTRAINT c CHECK (a > 0) NOT VALID",
     "constraint t.c: validated is yes in the original, no in the rewrite"),
    ("CREATE INDEX i ON t (a)", "CREATE INDEX i ON t (a) WHERE a > 1", "index i: definition"),
    ("ALTER TABLE t ALTER b SET DEFAULT 'y'", "", "column t.b: default"),
    ("ALTER TABLE t ALTER id TYPE bigint", "", "column t.id: type is 'bigint' in the original, 'integer'"),
    ("DROP POLICY own ON t", "", "policy t.own exists only in the rewrite"),
    ("ALTER TABLE p DETACH PARTITION p_2026", "", "relation p_2026: partition of"),
])
def test_differences_are_named(two, left, right, expected):
    a, b = two
    if left:
        _run(a, left)
    if right:
        _run(b, right)
    diffs = compare_catalogs(read_catalog(a), read_catalog(b))
    assert any(d.startswith(expected) for d in diffs), diffs


def test_helper_not_null_check_compares_by_definition_not_name(two):
    a, b = two
    _run(a, "ALTER TABLE t ADD CONSTRAINT t_a_chk CHECK (a IS NOT NULL)")
    _run(b, "ALTER TABLE t ADD CONSTRAINT other_name CHECK (a IS NOT NULL)")
    assert compare_catalogs(read_catalog(a), read_catalog(b)) == []
