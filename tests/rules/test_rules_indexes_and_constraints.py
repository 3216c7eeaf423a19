"""Rules about indexes, constraints and NOT NULL: an unsafe and a safe revision each, on the shadow."""

from __future__ import annotations

import pytest

from alembic_guard.rewrite.outcome import OPS_IMPORT
from helpers import describe, findings, rules_fired

AUTOCOMMIT = "with op.get_context().autocommit_block():\n    "


def ex(sql: str) -> str:
    return f"op.execute({sql!r})"


def errors(rev) -> set[str]:
    return rules_fired(rev, "error")


# -- concurrently-in-transaction ---------------------------------------------------------------

@pytest.mark.parametrize("body", [
    'op.create_index("ix_t_b", "t", ["b"], postgresql_concurrently=True)',
    'op.drop_index("t_a", table_name="t", postgresql_concurrently=True)',
    ex("REINDEX INDEX CONCURRENTLY t_a"),
])
def test_concurrently_in_transaction(run, body):
    rev = run(body, allow_error=True)
    (f,) = findings(rev, "concurrently-in-transaction")
    assert f.severity == "error" and "autocommit_block" in f.fix, describe(rev)
    assert "CONCURRENTLY" in f.message and rev.verdict == "error"


def test_concurrently_in_autocommit_block_is_safe(run):
    rev = run(AUTOCOMMIT + 'op.create_index("ix_t_b", "t", ["b"], postgresql_concurrently=True)\n'
              + AUTOCOMMIT + 'op.drop_index("t_a", table_name="t", postgresql_concurrently=True)')
    # (the only finding: no check for an INVALID leftover before the build, a warning)
    assert rev.verdict == "safe" and rules_fired(rev) == {"concurrent-index-invalid-leftover"}, describe(rev)


# -- create-index-non-concurrent (existing rule, checked for no overlap) --------------------------

def test_create_index_on_new_table_is_safe(run):
    rev = run('op.create_table("fresh", sa.Column("id", sa.Integer, primary_key=True), sa.Column("x", sa.Integer))\n'
              'op.create_index("ix_fresh_x", "fresh", ["x"])\n'
              'op.create_unique_constraint("uq_fresh_x", "fresh", ["x"])\n'
              'op.create_check_constraint("ck_fresh_x", "fresh", "x > 0")')
    assert rev.verdict == "safe" and not findings(rev, severity="error"), describe(rev)


# -- drop-index-non-concurrent ------------------------------------------------------------------

def test_drop_index_non_concurrent(run):
    rev = run('op.drop_index("t_a", table_name="t")')
    (f,) = findings(rev, "drop-index-non-concurrent")
    assert f.severity == "error" and f.table == "t" and "ACCESS EXCLUSIVE on t" in f.message, describe(rev)
    assert "postgresql_concurrently=True" in f.fix and "'t_a'" in f.fix and "table_name='t'" in f.fix
    assert errors(rev) == {"drop-index-non-concurrent"}  # no generic duplicate


def test_drop_index_created_in_same_revision_is_safe(run):
    rev = run('op.execute("SET LOCAL lock_timeout = \'2s\'")\n'
              'op.create_table("fresh", sa.Column("id", sa.Integer, primary_key=True))\n'
              'op.create_index("ix_fresh_id", "fresh", ["id"])\n'
              'op.drop_index("ix_fresh_id", table_name="fresh")')
    assert rev.verdict == "safe" and not rev.findings, describe(rev)


# -- set-not-null-scans-table -----------------------------------------------------------------

def test_set_not_null_scans(run):
    rev = run('op.alter_column("t", "a", nullable=False, existing_type=sa.Integer)')
    (f,) = findings(rev, "set-not-null-scans-table")
    assert f.severity == "error" and "t.a" in f.message and "ACCESS EXCLUSIVE" in f.message, describe(rev)
    # the set-not-null recipe: CHECK NOT VALID, VALIDATE in its own transaction, SET NOT NULL, DROP the CHECK
    assert "CHECK (a IS NOT NULL) NOT VALID" in f.fix and 'op.validate_constraint("t_a_not_null_chk", "t")' in f.fix
    assert "ALTER COLUMN a SET NOT NULL" in f.fix and "DROP CONSTRAINT t_a_not_null_chk" in f.fix


def test_set_not_null_with_validated_check_is_safe(run):
    rev = run('op.execute("SET LOCAL lock_timeout = \'2s\'")\n'
              'op.alter_column("t", "a", nullable=False, existing_type=sa.Integer)',
              extra="ALTER TABLE t ADD CONSTRAINT t_a_nn CHECK (a IS NOT NULL);")
    assert rev.verdict == "safe" and not rev.findings, describe(rev)


def test_set_not_null_via_check_in_steps_is_safe(run):
    rev = run('op.execute("SET LOCAL lock_timeout = \'2s\'")\n'
              'op.create_check_constraint("t_a_nn", "t", "a IS NOT NULL", postgresql_not_valid=True)\n'
              + AUTOCOMMIT + ex("ALTER TABLE t VALIDATE CONSTRAINT t_a_nn") + "\n"
              'op.execute("SET LOCAL lock_timeout = \'2s\'")\n'
              'op.alter_column("t", "a", nullable=False, existing_type=sa.Integer)\n'
              'op.drop_constraint("t_a_nn", "t", type_="check")')
    assert rev.verdict == "safe" and not rev.findings, describe(rev)


def test_pg18_not_null_constraint_validated_in_place(run, shadow):
    if shadow.version_num < 180000:
        pytest.skip("PostgreSQL 18 syntax")
    rev = run(ex("ALTER TABLE t ADD CONSTRAINT t_a_nn NOT NULL a"))
    assert "set-not-null-scans-table" in errors(rev), describe(rev)


def test_pg18_not_null_not_valid_is_safe(run, shadow):
    if shadow.version_num < 180000:
        pytest.skip("PostgreSQL 18 syntax")
    rev = run(ex("ALTER TABLE t ADD CONSTRAINT t_a_nn NOT NULL a NOT VALID"))
    assert not findings(rev, severity="error"), describe(rev)


# -- constraint-validated-in-place --------------------------------------------------------------

@pytest.mark.parametrize("body, table, lock", [
    ('op.create_foreign_key("t_pid_fk", "t", "parent", ["pid"], ["id"])', "t", "SHARE ROW EXCLUSIVE"),
    ('op.create_check_constraint("t_a_pos", "t", "a > 0")', "t", "ACCESS EXCLUSIVE"),
    (ex("ALTER TABLE t ADD COLUMN c int CHECK (c > 0)"), "t", "ACCESS EXCLUSIVE"),
])
def test_constraint_validated_in_place(run, body, table, lock):
    rev = run(body)
    (f,) = findings(rev, "constraint-validated-in-place")
    assert f.severity == "error" and f.table == table and lock in f.message, describe(rev)
    # NOT VALID, then VALIDATE in a transaction of its own (op.validate_constraint commits first)
    assert " NOT VALID" in f.fix and "op.validate_constraint(" in f.fix


def test_foreign_key_message_names_both_tables(run):
    rev = run('op.create_foreign_key("t_pid_fk", "t", "parent", ["pid"], ["id"])')
    (f,) = findings(rev, "constraint-validated-in-place")
    assert "t → parent" in f.message and "SHARE ROW EXCLUSIVE on parent" in f.message
    assert "ADD CONSTRAINT t_pid_fk FOREIGN KEY (pid) REFERENCES parent (id) NOT VALID" in f.fix


def test_not_valid_then_validate_in_autocommit_is_safe(run):
    rev = run('op.execute("SET LOCAL lock_timeout = \'2s\'")\n'
              'op.create_foreign_key("t_pid_fk", "t", "parent", ["pid"], ["id"], postgresql_not_valid=True)\n'
              'op.create_check_constraint("t_a_pos", "t", "a > 0", postgresql_not_valid=True)\n'
              + AUTOCOMMIT + ex("ALTER TABLE t VALIDATE CONSTRAINT t_pid_fk") + "\n"
              + AUTOCOMMIT + ex("ALTER TABLE t VALIDATE CONSTRAINT t_a_pos"))
    assert rev.verdict == "safe" and not rev.findings, describe(rev)


def test_not_valid_then_validate_in_later_revision_is_safe(run):
    revs = run(['op.execute("SET LOCAL lock_timeout = \'2s\'")\n'
                'op.create_foreign_key("t_pid_fk", "t", "parent", ["pid"], ["id"], postgresql_not_valid=True)',
                ex("ALTER TABLE t VALIDATE CONSTRAINT t_pid_fk")], all_revisions=True)
    assert all(r.verdict == "safe" and not r.findings for r in revs), [describe(r) for r in revs]


def test_add_column_references_does_not_scan_so_no_error(run):
    rev = run(ex("ALTER TABLE t ADD COLUMN c int REFERENCES parent (id)"))
    assert rev.verdict == "safe" and not findings(rev, "constraint-validated-in-place"), describe(rev)


def test_alter_domain_add_constraint(run):
    setup_extra = "CREATE DOMAIN posint AS int; CREATE TABLE d (id int, v posint); INSERT INTO d VALUES (1, 1);"
    rev = run(ex("ALTER DOMAIN posint ADD CONSTRAINT posint_pos CHECK (VALUE > 0)"), extra=setup_extra)
    (f,) = findings(rev, "domain-constraint-scans-tables")  # moved out of constraint-validated-in-place
    assert f.severity == "error" and f.table == "d" and "SHARE on d" in f.message, describe(rev)
    assert "NOT VALID" in f.fix and "ALTER DOMAIN posint VALIDATE CONSTRAINT posint_pos" in f.fix


def test_alter_domain_not_valid_is_safe(run):
    setup_extra = "CREATE DOMAIN posint AS int; CREATE TABLE d (id int, v posint); INSERT INTO d VALUES (1, 1);"
    rev = run(ex("ALTER DOMAIN posint ADD CONSTRAINT posint_pos CHECK (VALUE > 0) NOT VALID"), extra=setup_extra)
    assert not findings(rev, severity="error"), describe(rev)


# -- validate-in-same-transaction ---------------------------------------------------------------

@pytest.mark.parametrize("add, lock", [
    ('op.create_check_constraint("t_a_pos", "t", "a > 0", postgresql_not_valid=True)', "ACCESS EXCLUSIVE"),
    ('op.create_foreign_key("t_pid_fk", "t", "parent", ["pid"], ["id"], postgresql_not_valid=True)',
     "SHARE ROW EXCLUSIVE"),
])
def test_validate_in_same_transaction(run, add, lock):
    name = "t_a_pos" if "check" in add else "t_pid_fk"
    rev = run('op.execute("SET LOCAL lock_timeout = \'2s\'")\n' + add + "\n"
              + ex(f"ALTER TABLE t VALIDATE CONSTRAINT {name}"))
    (f,) = findings(rev, "validate-in-same-transaction")
    assert f.severity == "error" and f"{lock} on t" in f.message and "line" in f.message, describe(rev)
    assert f.fix == OPS_IMPORT + "\n" + f'op.validate_constraint("{name}", "t")'


# -- unique-constraint-builds-index / exclusion-constraint -------------------------------------

@pytest.mark.parametrize("body, what", [
    ('op.create_unique_constraint("uq_t_a", "t", ["a"])', "UNIQUE uq_t_a (a)"),
    (ex("ALTER TABLE t ADD COLUMN c int UNIQUE"), "inline with ADD COLUMN c"),
    (ex("ALTER TABLE parent DROP CONSTRAINT parent_pkey CASCADE, ADD PRIMARY KEY (id)"), "PRIMARY KEY"),
])
def test_unique_constraint_builds_index(run, body, what):
    rev = run(body)
    (f,) = findings(rev, "unique-constraint-builds-index")
    assert f.severity == "error" and what in f.message, describe(rev)
    assert "CREATE UNIQUE INDEX CONCURRENTLY" in f.fix and "USING INDEX" in f.fix


def test_unique_using_index_is_safe(run):
    rev = run(AUTOCOMMIT + 'op.create_index("uq_t_a", "t", ["a"], unique=True, postgresql_concurrently=True)\n'
              'op.execute("SET LOCAL lock_timeout = \'2s\'")\n'
              + ex("ALTER TABLE t ADD CONSTRAINT uq_t_a UNIQUE USING INDEX uq_t_a"))
    # (the only finding: no check for an INVALID leftover before the build, a warning)
    assert rev.verdict == "safe" and rules_fired(rev) == {"concurrent-index-invalid-leftover"}, describe(rev)


def test_primary_key_using_index_on_nullable_column_scans(run):
    rev = run(ex("ALTER TABLE t ADD CONSTRAINT t_a_pk PRIMARY KEY USING INDEX t_a_u"),
              extra="ALTER TABLE t DROP CONSTRAINT t_pkey; CREATE UNIQUE INDEX t_a_u ON t (a);")
    (f,) = findings(rev, "unique-constraint-builds-index")
    assert f.severity == "error" and "scans all of t" in f.message, describe(rev)


def test_exclusion_constraint(run):
    rev = run(ex("ALTER TABLE t ADD CONSTRAINT t_a_excl EXCLUDE USING btree (a WITH =)"))
    (f,) = findings(rev, "exclusion-constraint")
    assert f.severity == "error" and "t_a_excl" in f.message and f.table == "t", describe(rev)
    assert not findings(rev, "unique-constraint-builds-index")


def test_exclusion_constraint_on_new_table_is_safe(run):
    rev = run('op.create_table("fresh", sa.Column("id", sa.Integer))\n'
              + ex("ALTER TABLE fresh ADD CONSTRAINT fresh_excl EXCLUDE USING btree (id WITH =)"))
    assert rev.verdict == "safe" and not rev.findings, describe(rev)


# -- partitioned tables ---------------------------------------------------------------------------

PARTITIONED = """
CREATE TABLE events (id bigint, at timestamptz NOT NULL, tenant int) PARTITION BY RANGE (at);
CREATE TABLE events_2026 PARTITION OF events FOR VALUES FROM ('2026-01-01') TO ('2027-01-01');
"""


def test_create_index_on_partitioned_parent_locks_every_partition(run):
    rev = run('op.create_index("ix_events_tenant", "events", ["tenant"])', extra=PARTITIONED)
    (f,) = findings(rev, "create-index-non-concurrent")
    assert "partition" in f.message and "ON ONLY" in f.fix and "ATTACH PARTITION" in f.fix
    locked = {lk.relation for lk in rev.statements[0].observation.new_locks if lk.mode == "SHARE"}
    assert {"events", "events_2026"} <= locked  # FACTS: SHARE on the parent and every partition


def test_partition_by_partition_recipe_is_safe(run):
    rev = run(ex("CREATE INDEX ix_events_at ON ONLY events (at)") + "\n"
              + AUTOCOMMIT + ex("CREATE INDEX CONCURRENTLY ix_events_2026_at ON events_2026 (at)") + "\n"
              + ex("ALTER INDEX ix_events_at ATTACH PARTITION ix_events_2026_at"), extra=PARTITIONED)
    assert "create-index-non-concurrent" not in errors(rev), describe(rev)
