"""Every operation of FACTS.md (the project's table of PostgreSQL facts: lock, rewrite/scan, safe
sequence) has a rule, and that rule fires on the operation's bad form on the real shadow.

``COVERAGE`` maps each row of the table (its first column, verbatim) to the rule ids that answer it
and to a bad revision body for each; ``test_row_is_covered`` runs every bad body through the whole
pipeline (capture → trace → judge, tests/helpers.py) on the standard schema and asserts the rule
fires. The safe forms are tested next to each rule (tests/rules/test_rules_*.py,
test_coverage_gaps.py). When FACTS.md is at hand (``../shared/FACTS.md`` next to the checkout),
``test_every_facts_row_is_mapped`` checks that no row of it is missing here.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from alembic_guard.rules import all_rules
from helpers import describe, findings

AUTOCOMMIT = "with op.get_context().autocommit_block():\n    "
TIMEOUT = 'op.execute("SET LOCAL lock_timeout = \'2s\'")\n'


def ex(sql: str) -> str:
    return f"op.execute({sql!r})"


PARTITIONED = ("CREATE TABLE events (id bigint, at timestamptz NOT NULL, tenant int) PARTITION BY RANGE (at);"
               "CREATE TABLE events_2026 PARTITION OF events FOR VALUES FROM ('2026-01-01') TO ('2027-01-01');")
PARTITIONS = ("CREATE TABLE m (id int, k int) PARTITION BY RANGE (k);"
              "CREATE TABLE m_2 PARTITION OF m FOR VALUES FROM (100) TO (200);"
              "CREATE TABLE m_1 (id int, k int); INSERT INTO m_1 VALUES (1, 5);")
EXTRA = ("CREATE TABLE nopk (a int NOT NULL); INSERT INTO nopk VALUES (1);"
         "CREATE TABLE moody (id int PRIMARY KEY, m mood); INSERT INTO moody VALUES (1, 'ok');"
         "CREATE TABLE ser (id serial PRIMARY KEY, v int); INSERT INTO ser (v) VALUES (1);"
         "CREATE DOMAIN posint AS int; CREATE TABLE d (id int PRIMARY KEY, v posint); INSERT INTO d VALUES (1, 1);"
         "CREATE MATERIALIZED VIEW mv AS SELECT id FROM t; CREATE UNIQUE INDEX mv_id ON mv (id);"
         "CREATE POLICY t_all ON t USING (true);"
         "CREATE TRIGGER t_sru BEFORE UPDATE ON t FOR EACH ROW EXECUTE FUNCTION suppress_redundant_updates_trigger();"
         "ALTER TABLE t ALTER COLUMN a SET DEFAULT 0;")

#: FACTS.md row → [(rule id, bad body, extra setup SQL)]: the rule that answers the row, shown firing
COVERAGE: dict[str, list[tuple[str, str, str]]] = {
    "CREATE INDEX": [("create-index-non-concurrent", 'op.create_index("ix_t_note", "t", ["note"])', "")],
    "CREATE INDEX on partitioned table": [
        # the fix is the partition-by-partition plan: ON ONLY parent, CIC per partition, ATTACH
        ("create-index-non-concurrent", 'op.create_index("ix_events_tenant", "events", ["tenant"])', PARTITIONED)],
    "CIC / DROP INDEX CONCURRENTLY / REINDEX CONCURRENTLY / DETACH … CONCURRENTLY inside a transaction": [
        ("concurrently-in-transaction", ex("CREATE INDEX CONCURRENTLY ix_t_note ON t (note)"), "")],
    "DROP INDEX": [("drop-index-non-concurrent", ex("DROP INDEX t_a"), "")],
    "REINDEX": [("reindex-non-concurrent", ex("REINDEX INDEX t_a"), "")],
    "ADD COLUMN nullable, no default": [("lock-without-timeout", 'op.add_column("t", sa.Column("x", sa.Text))', "")],
    "ADD COLUMN DEFAULT non-volatile (const, now(), `'{}'::jsonb`) incl. NOT NULL": [
        ("lock-without-timeout",
         'op.add_column("t", sa.Column("x", sa.Integer, nullable=False, server_default="0"))', "")],
    "ADD COLUMN DEFAULT volatile (random(), gen_random_uuid(), clock_timestamp())": [
        ("add-column-rewrites-table", TIMEOUT + ex("ALTER TABLE t ADD COLUMN c uuid DEFAULT gen_random_uuid()"), "")],
    "ADD COLUMN NOT NULL, no default": [
        # on an empty table it passes on the shadow (and fails in production): the rule says so
        ("add-column-not-null-without-default", TIMEOUT + ex("ALTER TABLE nopk2 ADD COLUMN code text NOT NULL"),
         "CREATE TABLE nopk2 (id int);")],
    "ADD COLUMN GENERATED … STORED, serial/bigserial, IDENTITY": [
        ("add-column-rewrites-table", TIMEOUT + ex("ALTER TABLE t ADD COLUMN c int GENERATED ALWAYS AS (a * 2) STORED"),
         ""),
        ("add-column-rewrites-table", TIMEOUT + ex("ALTER TABLE t ADD COLUMN c bigserial"), ""),
        ("add-column-rewrites-table", TIMEOUT + ex("ALTER TABLE t ADD COLUMN c int GENERATED ALWAYS AS IDENTITY"), "")],
    "ADD COLUMN with inline CHECK": [
        ("constraint-validated-in-place", TIMEOUT + ex("ALTER TABLE t ADD COLUMN c int CHECK (c > 0)"), "")],
    "ADD COLUMN with inline UNIQUE / PRIMARY KEY": [
        ("unique-constraint-builds-index", TIMEOUT + ex("ALTER TABLE t ADD COLUMN c int UNIQUE"), ""),
        ("unique-constraint-builds-index",
         TIMEOUT + ex("ALTER TABLE nopk ADD COLUMN id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY"), "")],
    "SET NOT NULL": [("set-not-null-scans-table", 'op.alter_column("t", "a", nullable=False, existing_type=sa.Integer)',
                      "")],
    "DROP NOT NULL, SET/DROP DEFAULT": [
        ("lock-without-timeout", 'op.alter_column("t", "note", server_default="n")', ""),
        ("drop-column-default", TIMEOUT + 'op.alter_column("t", "a", server_default=None)', "")],
    "ADD FOREIGN KEY": [("constraint-validated-in-place",
                         TIMEOUT + 'op.create_foreign_key("t_pid_fk", "t", "parent", ["pid"], ["id"])', "")],
    "ADD CHECK": [("constraint-validated-in-place", TIMEOUT + 'op.create_check_constraint("t_a_pos", "t", "a > 0")', "")],
    "NOT VALID and VALIDATE in one transaction": [
        ("validate-in-same-transaction", TIMEOUT + ex("ALTER TABLE t ADD CONSTRAINT t_a_pos CHECK (a > 0) NOT VALID")
         + "\n" + ex("ALTER TABLE t VALIDATE CONSTRAINT t_a_pos"), "")],
    "ADD UNIQUE": [("unique-constraint-builds-index", TIMEOUT + 'op.create_unique_constraint("t_a_key", "t", ["a"])',
                    "")],
    "ADD PRIMARY KEY": [("unique-constraint-builds-index", TIMEOUT + 'op.create_primary_key("nopk_pkey", "nopk", ["a"])',
                         "")],
    "ADD EXCLUDE": [("exclusion-constraint", ex("ALTER TABLE t ADD CONSTRAINT t_a_excl EXCLUDE USING btree (a WITH =)"),
                     "")],
    "ALTER COLUMN TYPE that rewrites (int→bigint, text→varchar(n), shrink varchar, json→jsonb, "
    "timestamp→timestamptz when TimeZone ≠ UTC)": [
        ("alter-column-type-rewrites", TIMEOUT + ex("ALTER TABLE t ALTER COLUMN a TYPE bigint"), "")],
    "ALTER COLUMN TYPE binary-coercible (varchar(n)→larger, varchar→text, numeric precision up with same scale, "
    "cidr→inet)": [("lock-without-timeout", ex("ALTER TABLE t ALTER COLUMN b TYPE varchar(200)"), "")],
    "RENAME COLUMN / RENAME TABLE": [
        ("rename-column", 'op.alter_column("t", "note", new_column_name="remark")', ""),
        ("rename-table", 'op.rename_table("parent", "parents")', "")],
    "DROP COLUMN": [("drop-column", TIMEOUT + 'op.drop_column("t", "note")', "")],
    "DROP TABLE / DROP FK constraint": [
        ("drop-table", TIMEOUT + ex("DROP TABLE child"), ""),
        # the lock on the referenced table is named with its cause
        ("lock-without-timeout", ex("ALTER TABLE child DROP CONSTRAINT child_parent_id_fkey"), "")],
    "TRUNCATE (CASCADE)": [("truncate", ex("TRUNCATE t, parent CASCADE"), "")],
    "ALTER TYPE … ADD VALUE": [
        # before PostgreSQL 12 ADD VALUE itself is refused in a transaction block (SQLSTATE 25001):
        # concurrently-in-transaction reports any statement refused so, with the autocommit_block fix
        ("enum-value-used-before-commit", ex("ALTER TYPE mood ADD VALUE 'happy'") + "\n"
         + ex("UPDATE moody SET m = 'happy' WHERE id = 1"), "")],
    "ALTER DOMAIN ADD CONSTRAINT, ALTER DOMAIN VALIDATE CONSTRAINT": [
        ("domain-constraint-scans-tables", TIMEOUT + ex("ALTER DOMAIN posint ADD CONSTRAINT posint_pos CHECK (VALUE > 0)"),
         "")],
    "VACUUM FULL / CLUSTER": [("vacuum-full-or-cluster", AUTOCOMMIT + ex("VACUUM FULL t"), ""),
                              ("vacuum-full-or-cluster", ex("CLUSTER t USING t_pkey"), "")],
    "REFRESH MATERIALIZED VIEW": [("refresh-materialized-view-non-concurrent", ex("REFRESH MATERIALIZED VIEW mv"), "")],
    "ATTACH PARTITION": [("attach-partition-scans",
                          TIMEOUT + ex("ALTER TABLE m ATTACH PARTITION m_1 FOR VALUES FROM (0) TO (100)"), PARTITIONS)],
    "DETACH PARTITION": [("detach-partition-non-concurrent", TIMEOUT + ex("ALTER TABLE m DETACH PARTITION m_2"),
                          PARTITIONS)],
    "CREATE TRIGGER, ENABLE/DISABLE TRIGGER": [
        ("lock-without-timeout", ex("CREATE TRIGGER t_sru2 BEFORE UPDATE ON t FOR EACH ROW "
                                    "EXECUTE FUNCTION suppress_redundant_updates_trigger()"), ""),
        ("lock-without-timeout", ex("ALTER TABLE t ENABLE TRIGGER t_sru"), ""),
        ("disable-trigger", TIMEOUT + ex("ALTER TABLE t DISABLE TRIGGER t_sru"), "")],
    "SET LOGGED / UNLOGGED, SET TABLESPACE, SET ACCESS METHOD": [
        ("set-table-logged-tablespace-access-method", TIMEOUT + ex("ALTER TABLE t SET UNLOGGED"), "")],
    "ENABLE/DISABLE ROW LEVEL SECURITY, DROP POLICY": [
        ("disable-row-level-security", TIMEOUT + ex("ALTER TABLE t DISABLE ROW LEVEL SECURITY"),
         "ALTER TABLE t ENABLE ROW LEVEL SECURITY;"),
        ("drop-policy", TIMEOUT + ex("DROP POLICY t_all ON t"), "")],
    "Large UPDATE/DELETE in one statement (backfill)": [
        ("backfill-in-migration-transaction", TIMEOUT + ex("UPDATE t SET note = 'x' WHERE note IS NULL"), "")],
}

#: operations of the issue beyond FACTS.md's rows (sequence and identity changes), measured on the shadow
BEYOND_FACTS: dict[str, list[tuple[str, str, str]]] = {
    "ALTER SEQUENCE (AS bigint, RESTART, INCREMENT …)": [
        ("alter-sequence-blocks-inserts", ex("ALTER SEQUENCE ser_id_seq AS bigint"), "")],
    "ALTER COLUMN … SET GENERATED / RESTART / SET DEFAULT nextval()": [
        ("lock-without-timeout", ex("ALTER TABLE ser ALTER COLUMN id SET DEFAULT nextval('ser_id_seq')"), "")],
    "ALTER COLUMN … ADD GENERATED … AS IDENTITY on a column that holds values": [
        ("sequence-starts-below-existing-values", ex("ALTER TABLE kt ALTER COLUMN id ADD GENERATED ALWAYS AS IDENTITY"),
         "CREATE TABLE kt (id int PRIMARY KEY); INSERT INTO kt VALUES (1);")],
    "ALTER COLUMN … DROP IDENTITY": [
        ("drop-column-default", TIMEOUT + ex("ALTER TABLE ident ALTER COLUMN id DROP IDENTITY"),
         "CREATE TABLE ident (id int GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY);")],
}

CASES = [pytest.param(rule, body, extra, id=f"{row[:40]}-{i}")
         for table in (COVERAGE, BEYOND_FACTS) for row, cases in table.items()
         for i, (rule, body, extra) in enumerate(cases)]


def test_every_mapped_rule_exists():
    ids = {r.id for r in all_rules()}
    for table in (COVERAGE, BEYOND_FACTS):
        for row, cases in table.items():
            assert cases, f"FACTS.md row {row!r} has no rule"
            unknown = {rule for rule, _, _ in cases} - ids
            assert not unknown, f"{row!r}: unknown rule ids {unknown}"


def _facts_rows(text: str) -> list[str]:
    """The first column of every data row of FACTS.md's operations table."""
    rows = []
    for line in text.splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")] if line.startswith("|") else []
        if cells and cells[0] not in ("Operation", "") and not set(cells[0]) <= {"-", ":"}:
            rows.append(cells[0])
    return rows


def test_every_facts_row_is_mapped():
    path = Path(__file__).resolve().parents[2].parent / "shared" / "FACTS.md"
    if not path.exists():
        pytest.skip(f"{path} is not here (it lives next to the checkout)")
    missing = [row for row in _facts_rows(path.read_text()) if row not in COVERAGE]
    assert not missing, f"FACTS.md rows with no rule listed in COVERAGE: {missing}"


@pytest.mark.parametrize("rule, body, extra", CASES)
def test_row_is_covered(run, rule, body, extra):
    rev = run(body, extra=EXTRA + extra, allow_error=True)
    assert findings(rev, rule), f"{rule} does not fire:\n{describe(rev)}"
