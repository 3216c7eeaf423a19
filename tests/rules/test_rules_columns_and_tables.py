"""Rules about columns, tables and data changes: an unsafe and a safe revision each, on the shadow."""

from __future__ import annotations

import pytest

from helpers import describe, findings, rules_fired

AUTOCOMMIT = "with op.get_context().autocommit_block():\n    "
TIMEOUT = 'op.execute("SET LOCAL lock_timeout = \'2s\'")\n'


def ex(sql: str) -> str:
    return f"op.execute({sql!r})"


# -- add-column-rewrites-table ------------------------------------------------------------------

@pytest.mark.parametrize("column, cause", [
    ("c uuid DEFAULT gen_random_uuid() NOT NULL", "DEFAULT gen_random_uuid() is volatile"),
    ("c timestamptz DEFAULT clock_timestamp()", "DEFAULT clock_timestamp() is volatile"),
    ("c float8 DEFAULT random()", "DEFAULT random() is volatile"),
    ("c int GENERATED ALWAYS AS (a * 2) STORED", "GENERATED ALWAYS AS (…) STORED"),
    ("c bigserial", "it is bigserial"),
    ("c int GENERATED ALWAYS AS IDENTITY", "IDENTITY"),
])
def test_add_column_rewrites_table(run, column, cause):
    rev = run(TIMEOUT + ex(f"ALTER TABLE t ADD COLUMN {column}"))
    (f,) = findings(rev, "add-column-rewrites-table")
    assert f.severity == "error" and f.table == "t" and cause in f.message, describe(rev)
    assert "rewrote t" in f.message and "ACCESS EXCLUSIVE" in f.message
    # the add-column recipe: the column without its value (no rewrite), values for new rows, a batched backfill
    assert "ALTER TABLE t ADD COLUMN IF NOT EXISTS c " in f.fix and 'op.backfill("t", {"c": ' in f.fix
    assert rules_fired(rev, "error") == {"add-column-rewrites-table"}  # no generic blocking-lock-during-work


def test_add_column_rewrites_fix_keeps_the_volatile_default_for_new_rows(run):
    rev = run('op.add_column("t", sa.Column("public_id", sa.Uuid, nullable=False, '
              'server_default=sa.text("gen_random_uuid()")))')
    (f,) = findings(rev, "add-column-rewrites-table")
    assert '"ALTER TABLE t ADD COLUMN IF NOT EXISTS public_id uuid"' in f.fix
    assert '"ALTER TABLE t ALTER COLUMN public_id SET DEFAULT gen_random_uuid()"' in f.fix
    assert '"public_id": "gen_random_uuid()"}' in f.fix and 'where="public_id IS NULL"' in f.fix
    assert 'op.set_not_null_safely("t", "public_id")' in f.fix


@pytest.mark.parametrize("column", [
    'sa.Column("c", sa.Integer, nullable=False, server_default="0")',
    'sa.Column("c", sa.DateTime(timezone=True), server_default=sa.text("now()"))',
    'sa.Column("c", sa.dialects.postgresql.JSONB, nullable=False, server_default=sa.text("\'{}\'::jsonb"))',
    'sa.Column("c", sa.Text)',
    'sa.Column("c", sa.Integer, sa.Computed("a * 2", persisted=False))',
])
def test_add_column_without_rewrite_is_safe(run, column):
    rev = run(TIMEOUT + f'op.add_column("t", {column})')
    assert rev.verdict == "safe" and not rev.findings, describe(rev)


def test_add_column_volatile_default_on_new_table_is_safe(run):
    rev = run('op.create_table("fresh", sa.Column("id", sa.Integer, primary_key=True))\n'
              + ex("ALTER TABLE fresh ADD COLUMN u uuid DEFAULT gen_random_uuid()"))
    assert rev.verdict == "safe" and not rev.findings, describe(rev)


# -- add-column-not-null-without-default --------------------------------------------------------

def test_add_column_not_null_without_default(run):
    rev = run(TIMEOUT + 'op.add_column("parent", sa.Column("code", sa.String(10), nullable=False))', setup=
              "CREATE TABLE parent (id int PRIMARY KEY)")  # empty: passes on the shadow, fails in production
    (f,) = findings(rev, "add-column-not-null-without-default")
    assert f.severity == "error" and "parent" in f.message and "code" in f.message, describe(rev)
    assert "ADD COLUMN IF NOT EXISTS code varchar(10)" in f.fix and "DEFAULT '<constant>'" in f.fix
    assert 'op.backfill("parent", {"code": "<value>"}, where="code IS NULL")' in f.fix


def test_add_column_not_null_with_default_is_safe(run):
    rev = run(TIMEOUT + 'op.add_column("t", sa.Column("code", sa.String(10), nullable=False, server_default="x"))')
    assert rev.verdict == "safe" and not rev.findings, describe(rev)


def test_add_column_not_null_on_new_table_is_safe(run):
    rev = run('op.create_table("fresh", sa.Column("id", sa.Integer, primary_key=True))\n'
              'op.add_column("fresh", sa.Column("code", sa.String(10), nullable=False))')
    assert rev.verdict == "safe" and not rev.findings, describe(rev)


# -- alter-column-type-rewrites -----------------------------------------------------------------

@pytest.mark.parametrize("column, new, existing", [
    ("a", "sa.BigInteger", "sa.Integer"),
    ("b", "sa.String(50)", "sa.String(100)"),
    ("j", "sa.dialects.postgresql.JSONB", "sa.JSON"),
])
def test_alter_column_type_rewrites(run, column, new, existing):
    target = {"j": "jsonb", "a": "bigint"}.get(column, "varchar(50)")
    rev = run(f'op.alter_column("t", "{column}", type_={new}, existing_type={existing}, '
              f'postgresql_using="{column}::{target}")')
    (f,) = findings(rev, "alter-column-type-rewrites")
    assert f.severity == "error" and "rewrote t" in f.message and f"COLUMN {column} TYPE" in f.message, describe(rev)
    assert "CREATE TRIGGER" in f.fix and "RENAME COLUMN" in f.fix
    # the real new type, the real (nullable) column, the real index t_a rebuilt on the new column
    assert f"ADD COLUMN IF NOT EXISTS {column}_new {target}" in f.fix and "set_not_null_safely" not in f.fix
    assert ("CREATE INDEX CONCURRENTLY IF NOT EXISTS t_a_new ON public.t (a_new)" in f.fix) == (column == "a")
    assert "<new SQL type>" not in f.fix
    assert rules_fired(rev, "error") == {"alter-column-type-rewrites"}


@pytest.mark.parametrize("column, new, existing", [
    ("b", "sa.String(200)", "sa.String(100)"),
    ("b", "sa.Text()", "sa.String(100)"),
    ("n", "sa.Numeric(12, 2)", "sa.Numeric(10, 2)"),
])
def test_binary_coercible_type_change_is_safe(run, column, new, existing):
    rev = run(TIMEOUT + f'op.alter_column("t", "{column}", type_={new}, existing_type={existing})')
    assert rev.verdict == "safe" and not rev.findings, describe(rev)


TO_TSTZ = 'op.alter_column("t", "ts", type_=sa.DateTime(timezone=True), existing_type=sa.DateTime())'


def test_timestamp_to_timestamptz_is_unknown_unless_the_revision_sets_the_timezone(run):
    """Whether production rewrites the table depends on its session TimeZone, which the shadow lacks."""
    rev = run(TIMEOUT + TO_TSTZ)
    (f,) = findings(rev, "alter-column-type-rewrites")
    assert f.severity == "warning" and "TimeZone" in f.message and f.unseen and rev.verdict == "unknown", describe(rev)


def test_timestamp_to_timestamptz_after_a_reset_timezone_is_still_unknown(run):
    rev = run(TIMEOUT + "op.execute(\"SET LOCAL TimeZone = 'UTC'\")\nop.execute(\"RESET TimeZone\")\n" + TO_TSTZ)
    assert rev.verdict == "unknown", describe(rev)


def test_timestamp_to_timestamptz_with_the_timezone_set_is_safe(run):
    rev = run(TIMEOUT + "op.execute(\"SET LOCAL TimeZone = 'UTC'\")\n" + TO_TSTZ)
    assert not findings(rev, "alter-column-type-rewrites") and rev.verdict == "safe", describe(rev)


# -- rename-column / rename-table -----------------------------------------------------------------

def test_rename_column(run):
    rev = run('op.alter_column("t", "note", new_column_name="remark")')
    (f,) = findings(rev, "rename-column")
    assert f.severity == "error" and "t.note TO remark" in f.message, describe(rev)
    assert "ADD COLUMN IF NOT EXISTS remark text" in f.fix and "DROP COLUMN IF EXISTS note" in f.fix
    # both versions of the code write during the deployment: the trigger copies both ways
    assert "IF NEW.remark IS NULL THEN NEW.remark := NEW.note; ELSE NEW.note := NEW.remark;" in f.fix
    assert "ELSIF NEW.remark IS DISTINCT FROM OLD.remark THEN" in f.fix


def test_rename_table(run):
    rev = run('op.rename_table("parent", "parents")')
    (f,) = findings(rev, "rename-table")
    assert f.severity == "error" and "parent TO parents" in f.message, describe(rev)
    assert '"ALTER TABLE parent RENAME TO parents",\n#         "CREATE VIEW parent AS SELECT * FROM parents",' in f.fix


def test_rename_table_bridged_by_a_view_is_safe(run):
    rev = run('import alembic_guard.ops\n'
              'op.run_with_lock_timeout(["ALTER TABLE parent RENAME TO parents", '
              '"CREATE VIEW parent AS SELECT * FROM parents"])')
    assert not findings(rev, "rename-table"), describe(rev)


def test_renames_on_new_table_are_safe(run):
    rev = run('op.create_table("fresh", sa.Column("id", sa.Integer, primary_key=True), sa.Column("x", sa.Text))\n'
              'op.alter_column("fresh", "x", new_column_name="y")\n'
              'op.rename_table("fresh", "fresher")')
    assert rev.verdict == "safe" and not rev.findings, describe(rev)


# -- drop-column / drop-table / truncate ----------------------------------------------------------

def test_drop_column(run):
    rev = run(TIMEOUT + 'op.drop_column("t", "note")')
    (f,) = findings(rev, "drop-column")
    assert f.severity == "error" and "t.note" in f.message, describe(rev)
    assert "ALTER TABLE t DROP COLUMN IF EXISTS note" in f.fix and "ignore[drop-column]" in f.fix


def test_drop_indexed_column_drops_its_index_concurrently_first(run):
    rev = run(TIMEOUT + 'op.drop_column("t", "a")')
    (f,) = findings(rev, "drop-column")
    assert "DROP INDEX CONCURRENTLY IF EXISTS t_a" in f.fix and "<index" not in f.fix


def test_drop_column_suppressed_with_reason_is_safe(run):
    rev = run(TIMEOUT + 'op.drop_column("t", "note")  # alembic-guard: ignore[drop-column] unused since v42')
    assert rev.verdict == "safe", describe(rev)


def test_drop_table_locks_referenced_tables(run):
    rev = run(TIMEOUT + 'op.drop_table("child")')
    (f,) = findings(rev, "drop-table")
    assert f.severity == "error" and "DROP TABLE child" in f.message, describe(rev)
    assert "ACCESS EXCLUSIVE on parent" in f.message
    assert 'ALTER TABLE child DROP CONSTRAINT IF EXISTS child_parent_id_fkey")  # references parent' in f.fix


def test_drop_referenced_table_drops_the_foreign_keys_of_others_first(run):
    rev = run(TIMEOUT + 'op.execute("DROP TABLE parent CASCADE")')
    (f,) = findings(rev, "drop-table")
    assert 'ALTER TABLE child DROP CONSTRAINT IF EXISTS child_parent_id_fkey")  # child references parent' in f.fix


def test_drop_new_table_and_column_are_safe(run):
    rev = run('op.create_table("fresh", sa.Column("id", sa.Integer, primary_key=True), sa.Column("x", sa.Text))\n'
              'op.drop_column("fresh", "x")\n'
              'op.drop_table("fresh")')
    assert rev.verdict == "safe" and not rev.findings, describe(rev)


def test_truncate(run):
    rev = run(ex("TRUNCATE t, parent CASCADE"))
    (f,) = findings(rev, "truncate")
    assert f.severity == "error" and "t, parent" in f.message and "CASCADE" in f.message, describe(rev)
    assert rules_fired(rev, "error") == {"truncate"}, [(f.rule, f.message) for f in rev.findings]  # the rewrite it causes is not reported twice


def test_truncate_new_table_is_safe(run):
    rev = run('op.create_table("fresh", sa.Column("id", sa.Integer))\n' + ex("TRUNCATE fresh"))
    assert rev.verdict == "safe" and not rev.findings, describe(rev)


# -- backfill-in-migration-transaction ----------------------------------------------------------

def test_update_without_where_is_an_error(run):
    rev = run(TIMEOUT + ex("UPDATE t SET note = 'x'"))
    (f,) = findings(rev, "backfill-in-migration-transaction")
    assert f.severity == "error" and "no WHERE" in f.message, describe(rev)
    assert 'op.backfill("t", {"note": "\'x\'"})' in f.fix


def test_update_after_access_exclusive_is_an_error(run):
    rev = run(TIMEOUT + 'op.add_column("t", sa.Column("status", sa.Text))\n'
              + ex("UPDATE t SET status = 'new' WHERE status IS NULL"))
    (f,) = findings(rev, "backfill-in-migration-transaction")
    assert f.severity == "error" and "ACCESS EXCLUSIVE on t" in f.message and "line" in f.message, describe(rev)
    assert 'where="status IS NULL"' in f.fix


def test_backfill_predicate_is_an_error(run):
    rev = run(TIMEOUT + ex("UPDATE t SET note = 'x' WHERE note IS NULL"))
    (f,) = findings(rev, "backfill-in-migration-transaction")
    assert f.severity == "error" and "only tests the columns it sets" in f.message, describe(rev)


@pytest.mark.parametrize("sql", ["UPDATE t SET note = 'x' WHERE id = 1", "DELETE FROM t WHERE id IN (1, 2)"])
def test_targeted_update_is_a_warning(run, sql):  # a range on a non-key column: tests/rules/test_dml_bounds.py
    rev = run(TIMEOUT + ex(sql))
    (f,) = findings(rev, "backfill-in-migration-transaction")
    assert f.severity == "warning" and rev.verdict == "safe", describe(rev)


def test_backfill_in_autocommit_block_is_safe(run):
    rev = run(AUTOCOMMIT + ex("UPDATE t SET note = 'x' WHERE id BETWEEN 1 AND 1000"))
    assert not rev.findings, describe(rev)


# -- lock-without-timeout -------------------------------------------------------------------------

def test_lock_without_timeout_is_a_warning_once_per_table(run):
    rev = run('op.add_column("t", sa.Column("x", sa.Text))\n'
              'op.add_column("t", sa.Column("y", sa.Text))\n'
              'op.alter_column("t", "x", server_default="a")')
    (f,) = findings(rev, "lock-without-timeout")
    assert f.severity == "warning" and "ACCESS EXCLUSIVE on t" in f.message, describe(rev)
    assert "SET LOCAL lock_timeout" in f.fix and rev.verdict == "safe"


def test_create_trigger_without_timeout_is_a_warning(run):
    rev = run(ex("CREATE TRIGGER t_sru BEFORE UPDATE ON t FOR EACH ROW "
                 "EXECUTE FUNCTION suppress_redundant_updates_trigger()"))
    (f,) = findings(rev, "lock-without-timeout")
    assert "SHARE ROW EXCLUSIVE on t" in f.message and rev.verdict == "safe", describe(rev)


def test_lock_with_timeout_is_clean(run):
    rev = run(TIMEOUT + 'op.add_column("t", sa.Column("x", sa.Text))')
    assert not rev.findings, describe(rev)


def test_first_revision_does_not_report_the_version_table(run):
    rev = run('op.create_table("fresh", sa.Column("id", sa.Integer, primary_key=True))', setup="")
    assert not rev.findings, describe(rev)


# -- never an error -------------------------------------------------------------------------------

@pytest.mark.parametrize("body, extra", [
    ('op.create_table("fresh", sa.Column("id", sa.BigInteger, sa.Identity(), primary_key=True))', ""),
    ('op.add_column("t", sa.Column("x", sa.Text))', ""),
    ('op.alter_column("t", "note", server_default="n")', ""),
    ('op.alter_column("t", "a", server_default=None)', "ALTER TABLE t ALTER COLUMN a SET DEFAULT 0;"),
    ('op.alter_column("t", "note", nullable=True)', "ALTER TABLE t ALTER COLUMN note SET NOT NULL;"),
    (ex("ALTER TYPE mood ADD VALUE 'happy'"), ""),
    ('op.add_column("t", sa.Column("created", sa.DateTime(timezone=True), nullable=False, '
     'server_default=sa.text("now()")))', ""),
])
def test_never_an_error(run, body, extra):
    rev = run(body, extra=extra)
    assert not findings(rev, severity="error") and rev.verdict == "safe", describe(rev)


def test_locks_of_an_earlier_revision_are_not_held_by_the_next_one(run):
    # Each revision commits (transaction_per_migration): the ACCESS EXCLUSIVE taken by r1 is gone when
    # r2 runs, so r2's UPDATE with a WHERE is only a warning, and r2's own lock is new (and reported).
    revs = run([TIMEOUT + 'op.add_column("t", sa.Column("status", sa.Text))',
                ex("UPDATE t SET status = 'new' WHERE id = 1") + "\n"
                + 'op.add_column("t", sa.Column("other", sa.Text))'], all_revisions=True)
    r2 = revs[-1]
    (f,) = findings(r2, "backfill-in-migration-transaction")
    assert f.severity == "warning", describe(r2)
    assert findings(r2, "lock-without-timeout"), describe(r2)


def test_same_lock_taken_again_by_the_next_revision_is_new_there(run):
    # r1 and r2 both take ACCESS EXCLUSIVE on t; r1 committed, so r2's lock is r2's own (and unprotected).
    revs = run([TIMEOUT + 'op.add_column("t", sa.Column("x", sa.Text))',
                'op.add_column("t", sa.Column("y", sa.Text))'], all_revisions=True)
    (f,) = findings(revs[-1], "lock-without-timeout")
    assert "ACCESS EXCLUSIVE on t" in f.message, describe(revs[-1])


def test_locks_of_an_earlier_revision_in_one_transaction_are_its_own(shadow, dbname, tmp_path):
    """Alembic's default env.py runs the whole upgrade in one transaction; a revision is judged by the
    locks it takes itself (deployed alone it would hold no others)."""
    from helpers import SCHEMA, SEED, run_revisions

    revs = run_revisions(shadow, dbname, tmp_path,
                         ['op.add_column("t", sa.Column("status", sa.Text))',
                          ex("UPDATE t SET status = 'new' WHERE id = 1")],
                         setup=SCHEMA + SEED, transaction_per_migration=False)
    (f,) = findings(revs[-1], "backfill-in-migration-transaction")
    assert f.severity == "warning" and "ACCESS EXCLUSIVE" not in f.message, describe(revs[-1])


def test_not_valid_then_validate_in_later_revision_of_one_transaction_is_safe(shadow, dbname, tmp_path):
    from helpers import SCHEMA, SEED, run_revisions

    revs = run_revisions(shadow, dbname, tmp_path,
                         ['op.execute("CREATE TABLE p (id int PRIMARY KEY); INSERT INTO p VALUES (1)")',
                          'op.add_column("t", sa.Column("p_id", sa.Integer))',
                          'op.create_foreign_key("fk_t_p", "t", "p", ["p_id"], ["id"], postgresql_not_valid=True)',
                          ex("ALTER TABLE t VALIDATE CONSTRAINT fk_t_p")],
                         setup=SCHEMA + SEED, transaction_per_migration=False)
    assert revs[-1].verdict == "safe" and revs[-2].verdict == "safe", describe(revs[-1])
