"""lock-table, domain-constraint-scans-tables, disable-trigger, rls-access-widened, grant-to-public,
publication-identity-changed, concurrent-index-invalid-leftover."""

from __future__ import annotations

import pytest

from helpers import describe, findings

AUTOCOMMIT = "with op.get_context().autocommit_block():\n    "
TIMEOUT = 'op.execute("SET LOCAL lock_timeout = \'2s\'")\n'


def ex(sql: str) -> str:
    return f"op.execute({sql!r})"


def body(*sqls: str) -> str:
    return "\n".join(ex(s) for s in sqls)


# -- lock-table ---------------------------------------------------------------------------------

def test_lock_table_default_mode_is_access_exclusive(run):
    rev = run(body("LOCK TABLE t", "UPDATE t SET a = 2 WHERE id = 1", "SELECT 1"))
    (f,) = findings(rev, "lock-table")
    assert f.severity == "error" and f.table == "t" and rev.verdict == "unsafe", describe(rev)
    assert "takes ACCESS EXCLUSIVE, which blocks everything, SELECT included" in f.message
    assert "no lock_timeout" in f.message and "held across 2 later statements" in f.message
    assert "LOCK TABLE t IN SHARE UPDATE EXCLUSIVE MODE" in f.fix and "lock_timeout" in f.fix


@pytest.mark.parametrize("mode", ["SHARE", "SHARE ROW EXCLUSIVE", "EXCLUSIVE", "ACCESS EXCLUSIVE"])
def test_lock_table_write_blocking_modes(run, mode):
    rev = run(TIMEOUT + ex(f"LOCK TABLE t IN {mode} MODE"))
    (f,) = findings(rev, "lock-table")
    assert f.severity == "error" and f"takes {mode}," in f.message, describe(rev)
    assert "lock_timeout (2000 ms) bounds only the wait" in f.message
    assert "held across 0 later statements" in f.message


@pytest.mark.parametrize("mode", ["ACCESS SHARE", "ROW SHARE", "ROW EXCLUSIVE", "SHARE UPDATE EXCLUSIVE"])
def test_lock_table_weak_modes_are_not_reported(run, mode):
    rev = run(TIMEOUT + ex(f"LOCK TABLE t IN {mode} MODE"))
    assert not findings(rev, "lock-table"), describe(rev)


def test_lock_table_on_a_new_table_is_not_reported(run):
    rev = run('op.create_table("fresh", sa.Column("id", sa.Integer))\n' + ex("LOCK TABLE fresh"))
    assert not findings(rev, "lock-table"), describe(rev)


def test_lock_table_good_form(run):
    rev = run(TIMEOUT + 'op.add_column("t", sa.Column("c", sa.Text()))')
    assert not rev.findings, describe(rev)


def test_lock_table_names_each_table(run):
    rev = run(TIMEOUT + ex("LOCK TABLE t, parent IN SHARE MODE"))
    assert {f.table for f in findings(rev, "lock-table")} == {"t", "parent"}, describe(rev)


# -- domain-constraint-scans-tables ---------------------------------------------------------------

DOMAIN = ("CREATE DOMAIN posint AS int; CREATE TABLE d (id int PRIMARY KEY, v posint); "
          "CREATE TABLE d2 (id int, w posint); INSERT INTO d VALUES (1, 1); INSERT INTO d2 VALUES (1, 1);")


def test_alter_domain_add_constraint_scans_every_table(run):
    rev = run(TIMEOUT + ex("ALTER DOMAIN posint ADD CONSTRAINT posint_pos CHECK (VALUE > 0)"), extra=DOMAIN)
    (f,) = findings(rev, "domain-constraint-scans-tables")
    assert f.severity == "error" and f.table == "d", describe(rev)
    assert "full scan of d, d2 under SHARE on d, SHARE on d2" in f.message
    assert 'ALTER DOMAIN posint ADD CONSTRAINT posint_pos CHECK (value > 0) NOT VALID' in f.fix
    assert "autocommit_block" in f.fix and "ALTER DOMAIN posint VALIDATE CONSTRAINT posint_pos" in f.fix
    assert not findings(rev, "constraint-validated-in-place")  # moved here: reported once


def test_alter_domain_good_form(run):
    rev = run(TIMEOUT + ex("ALTER DOMAIN posint ADD CONSTRAINT posint_pos CHECK (VALUE > 0) NOT VALID") + "\n"
              + AUTOCOMMIT + 'op.execute("SET lock_timeout = \'2s\'")\n    '
              + ex("ALTER DOMAIN posint VALIDATE CONSTRAINT posint_pos"), extra=DOMAIN)
    # the NOT VALID step is clean; VALIDATE still takes SHARE while it scans (no lock-free form before
    # PostgreSQL 19): the trace-first verdict stands, explained by the domain rule, not twice
    (f,) = findings(rev, "domain-constraint-scans-tables")
    assert f.severity == "error" and f.line == rev.statements[-1].line and "its own transaction" in f.message
    assert not findings(rev, "blocking-lock-during-work"), describe(rev)


def test_alter_domain_validate_in_the_migration_transaction(run):
    rev = run([TIMEOUT + ex("ALTER DOMAIN posint ADD CONSTRAINT posint_pos CHECK (VALUE > 0) NOT VALID"),
               TIMEOUT + ex("ALTER DOMAIN posint VALIDATE CONSTRAINT posint_pos")], extra=DOMAIN)
    (f,) = findings(rev, "domain-constraint-scans-tables")
    assert f.severity == "error" and "VALIDATE CONSTRAINT posint_pos runs in the migration" in f.message, \
        describe(rev)
    assert "SHARE on d" in f.message and "autocommit_block" in f.fix


def test_alter_domain_unused_domain_is_not_reported(run):
    rev = run(TIMEOUT + ex("ALTER DOMAIN lonely ADD CONSTRAINT lonely_pos CHECK (VALUE > 0)"),
              extra="CREATE DOMAIN lonely AS int;")
    assert not rev.findings, describe(rev)


# -- disable-trigger -------------------------------------------------------------------------------

AUDIT = """
CREATE FUNCTION t_touch() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN NEW.note := 'touched'; RETURN NEW; END $$;
CREATE TRIGGER t_audit BEFORE UPDATE ON t FOR EACH ROW EXECUTE FUNCTION t_touch();
"""


def test_disable_trigger_all_is_an_error(run):
    rev = run(TIMEOUT + ex("ALTER TABLE child DISABLE TRIGGER ALL"))
    (f,) = findings(rev, "disable-trigger")
    assert f.severity == "error" and f.table == "child" and rev.verdict == "unsafe", describe(rev)
    assert "internal triggers that enforce its foreign keys" in f.message and "stays off in production" in f.message
    assert "DISABLE TRIGGER USER" in f.fix and "ENABLE TRIGGER USER" in f.fix


def test_disable_trigger_all_even_when_enabled_again(run):
    rev = run(TIMEOUT + body("ALTER TABLE child DISABLE TRIGGER ALL", "INSERT INTO child VALUES (2, 1)",
                             "ALTER TABLE child ENABLE TRIGGER ALL"))
    (f,) = findings(rev, "disable-trigger")
    assert f.severity == "error" and "enabled again at line" in f.message, describe(rev)


@pytest.mark.parametrize("what", ["USER", "t_audit"])
def test_disable_user_or_named_trigger_is_a_warning(run, what):
    rev = run(TIMEOUT + ex(f"ALTER TABLE t DISABLE TRIGGER {what}"), extra=AUDIT)
    (f,) = findings(rev, "disable-trigger")
    assert f.severity == "warning" and f.table == "t" and rev.verdict == "safe", describe(rev)
    assert "SHARE ROW EXCLUSIVE" in f.message and "stays off in production" in f.message
    assert "ENABLE TRIGGER" in f.fix


def test_disable_trigger_enabled_again_in_a_later_transaction(run):
    rev = run(ex("ALTER TABLE t DISABLE TRIGGER t_audit") + "\n"
              + AUTOCOMMIT + ex("ALTER TABLE t ENABLE TRIGGER t_audit"), extra=AUDIT)
    (f,) = findings(rev, "disable-trigger")
    assert f.severity == "warning" and "only in a later transaction" in f.message, describe(rev)


def test_disable_trigger_good_form(run):
    rev = run(TIMEOUT + body("ALTER TABLE t DISABLE TRIGGER t_audit", "UPDATE t SET a = 2 WHERE id = 1",
                             "ALTER TABLE t ENABLE TRIGGER t_audit"), extra=AUDIT)
    assert not findings(rev, "disable-trigger"), describe(rev)


# -- rls-access-widened / grant-to-public ----------------------------------------------------------

RLS = "ALTER TABLE t ENABLE ROW LEVEL SECURITY; CREATE POLICY t_own ON t TO CURRENT_USER USING (a = 1);"


def test_create_permissive_policy_for_public_with_true_is_an_error(run):
    rev = run(TIMEOUT + ex("CREATE POLICY t_read ON t USING (true)"), extra=RLS)
    (f,) = findings(rev, "rls-access-widened")
    assert f.severity == "error" and f.table == "t" and rev.verdict == "unsafe", describe(rev)
    assert "PERMISSIVE (the default)" in f.message and "PUBLIC (every role), no TO clause" in f.message
    assert "USING (true) for PUBLIC" in f.message
    assert 'CREATE POLICY t_read ON t TO app_user USING (TRUE)' in f.fix and "(not true)" in f.fix


def test_create_permissive_policy_is_a_warning(run):
    rev = run(TIMEOUT + ex("CREATE POLICY t_more ON t FOR SELECT TO CURRENT_USER USING (a > 10)"), extra=RLS)
    (f,) = findings(rev, "rls-access-widened")
    assert f.severity == "warning" and "can only widen which rows of t" in f.message, describe(rev)
    assert "SELECT" in f.message and "a > 10" in f.message


def test_insert_policy_with_check_true_for_public(run):
    rev = run(TIMEOUT + ex("CREATE POLICY t_ins ON t FOR INSERT WITH CHECK (true)"), extra=RLS)
    (f,) = findings(rev, "rls-access-widened")
    assert f.severity == "error" and "WITH CHECK (true) for PUBLIC" in f.message, describe(rev)


def test_reviewed_permissive_policy_is_suppressed(run):
    rev = run(TIMEOUT + "# alembic-guard: ignore[rls-access-widened] reviewed: only rows with a = 2\n"
              + ex("CREATE POLICY t_two ON t FOR SELECT TO CURRENT_USER USING (a = 2)"), extra=RLS)
    (f,) = findings(rev, "rls-access-widened")
    assert f.suppressed and rev.verdict == "safe", describe(rev)


def test_restrictive_policy_is_not_reported(run):
    rev = run(TIMEOUT + ex("CREATE POLICY t_tenant ON t AS RESTRICTIVE TO CURRENT_USER USING (a > 0)"), extra=RLS)
    assert not rev.findings, describe(rev)


def test_first_policies_with_enable_rls_in_the_same_revision_are_not_reported(run):
    rev = run(TIMEOUT + body("ALTER TABLE t ENABLE ROW LEVEL SECURITY", "CREATE POLICY t_read ON t USING (a = 1)"))
    assert not findings(rev, "rls-access-widened"), describe(rev)


def test_policy_on_a_new_table_is_not_reported(run):
    rev = run('op.create_table("fresh", sa.Column("id", sa.Integer))\n'
              + ex("CREATE POLICY fresh_read ON fresh USING (true)"))
    assert not findings(rev, "rls-access-widened"), describe(rev)


@pytest.mark.parametrize("change, severity", [
    ("USING (a > 0)", "warning"),
    ("WITH CHECK (a > 0)", "warning"),
    ("TO PUBLIC", "warning"),
    ("TO PUBLIC USING (true)", "error"),
])
def test_alter_policy(run, change, severity):
    rev = run(TIMEOUT + ex(f"ALTER POLICY t_own ON t {change}"), extra=RLS)
    (f,) = findings(rev, "rls-access-widened")
    assert f.severity == severity and "ALTER POLICY t_own ON t replaces" in f.message, describe(rev)
    assert "pg_policies" in f.fix


def test_alter_policy_rename_is_not_reported(run):
    rev = run(TIMEOUT + ex("ALTER POLICY t_own ON t RENAME TO t_owner"), extra=RLS)
    assert not rev.findings, describe(rev)


def test_no_force_rls_is_reported_once(run):
    rev = run(TIMEOUT + ex("ALTER TABLE t NO FORCE ROW LEVEL SECURITY"), extra=RLS + "ALTER TABLE t FORCE ROW LEVEL SECURITY;")
    assert [f.rule for f in rev.findings] == ["disable-row-level-security"], describe(rev)


@pytest.mark.parametrize("sql, target", [
    ("GRANT SELECT ON t TO PUBLIC", "SELECT ON t TO PUBLIC"),
    ("GRANT SELECT, UPDATE ON TABLE t, parent TO PUBLIC", "SELECT, UPDATE ON t, parent TO PUBLIC"),
    ("GRANT USAGE ON SCHEMA public TO PUBLIC", "USAGE ON SCHEMA public TO PUBLIC"),
    ("GRANT SELECT ON ALL TABLES IN SCHEMA public TO PUBLIC", "ON ALL TABLES IN SCHEMA public"),
    ("ALTER DEFAULT PRIVILEGES GRANT SELECT ON TABLES TO PUBLIC", "every table created later"),
])
def test_grant_to_public(run, sql, target):
    rev = run(ex(sql))
    (f,) = findings(rev, "grant-to-public")
    assert f.severity == "warning" and target in f.message, describe(rev)
    assert "TO app_user" in f.fix and "PUBLIC" not in f.fix.split("\n")[-1]


@pytest.mark.parametrize("sql", ["GRANT SELECT ON t TO CURRENT_USER", "REVOKE SELECT ON t FROM PUBLIC",
                                 "GRANT EXECUTE ON FUNCTION now() TO PUBLIC"])
def test_grant_good_forms(run, sql):
    rev = run(ex(sql))
    assert not findings(rev, "grant-to-public"), describe(rev)


# -- publication-identity-changed ------------------------------------------------------------------

PUB = "CREATE PUBLICATION pub FOR TABLE t;"


def test_drop_primary_key_of_a_published_table(run):
    rev = run(TIMEOUT + 'op.drop_constraint("t_pkey", "t", type_="primary")', extra=PUB)
    (f,) = findings(rev, "publication-identity-changed")
    assert f.severity == "error" and f.table == "t" and rev.verdict == "unsafe", describe(rev)
    assert "DROP CONSTRAINT t_pkey drops the only unique key of t" in f.message
    assert "does not have a replica identity and publishes updates" in f.message
    assert "REPLICA IDENTITY USING INDEX t_identity_key" in f.fix


def test_drop_primary_key_column_of_a_published_table(run):
    rev = run(TIMEOUT + 'op.drop_column("t", "id")', extra=PUB)
    (f,) = findings(rev, "publication-identity-changed")
    assert f.severity == "error" and "DROP COLUMN id (part of the key id)" in f.message, describe(rev)


def test_drop_one_of_several_unique_keys_is_a_warning(run):
    rev = run(TIMEOUT + 'op.drop_constraint("t_pkey", "t", type_="primary")',
              extra=PUB + "ALTER TABLE t ADD CONSTRAINT t_b_key UNIQUE (b);")
    (f,) = findings(rev, "publication-identity-changed")
    assert f.severity == "warning" and "if t_pkey is its primary key" in f.message, describe(rev)


@pytest.mark.parametrize("sql", ["ALTER TABLE t DROP CONSTRAINT t_a_pos", "ALTER TABLE t DROP COLUMN note"])
def test_dropping_no_key_is_not_reported(run, sql):
    rev = run(TIMEOUT + ex(sql), extra=PUB + "ALTER TABLE t ADD CONSTRAINT t_a_pos CHECK (a > 0);")
    assert not findings(rev, "publication-identity-changed"), describe(rev)


def test_unpublished_table_is_not_reported(run):
    rev = run(TIMEOUT + 'op.drop_constraint("t_pkey", "t", type_="primary")')
    assert not findings(rev, "publication-identity-changed"), describe(rev)


@pytest.mark.parametrize("identity, severity", [("NOTHING", "error"), ("FULL", "warning"),
                                                 ("USING INDEX t_b_key", "warning"), ("DEFAULT", "warning")])
def test_replica_identity_of_a_published_table(run, identity, severity):
    rev = run(TIMEOUT + ex(f"ALTER TABLE t REPLICA IDENTITY {identity}"),
              extra=PUB + "ALTER TABLE t ALTER COLUMN b SET NOT NULL; ALTER TABLE t ADD CONSTRAINT t_b_key UNIQUE (b);")
    (f,) = findings(rev, "publication-identity-changed")
    assert f.severity == severity and f"REPLICA IDENTITY {identity.split()[0]}" in f.message, describe(rev)


def test_identity_moved_before_the_primary_key_is_dropped(run):
    rev = run(TIMEOUT + "# alembic-guard: ignore[publication-identity-changed] t_b_key exists on the subscriber\n"
              + ex("ALTER TABLE t REPLICA IDENTITY USING INDEX t_b_key") + "\n"
              + 'op.drop_constraint("t_pkey", "t", type_="primary")',
              extra=PUB + "ALTER TABLE t ALTER COLUMN b SET NOT NULL; ALTER TABLE t ADD CONSTRAINT t_b_key UNIQUE (b);")
    assert rev.verdict == "safe" and all(f.suppressed for f in findings(rev, "publication-identity-changed")), \
        describe(rev)
    assert len(findings(rev, "publication-identity-changed")) == 1


# -- concurrent-index-invalid-leftover -------------------------------------------------------------

def test_cic_if_not_exists_keeps_an_invalid_leftover(run):
    rev = run(AUTOCOMMIT + ex("CREATE INDEX CONCURRENTLY IF NOT EXISTS t_b ON t (b)"))
    (f,) = findings(rev, "concurrent-index-invalid-leftover")
    assert f.severity == "warning" and f.table == "t" and "silently keeps it" in f.message, describe(rev)
    assert 'op.execute("DROP INDEX CONCURRENTLY IF EXISTS t_b")' in f.fix and "autocommit_block" in f.fix


def test_cic_without_a_check(run):
    rev = run(AUTOCOMMIT + 'op.create_index("t_b", "t", ["b"], postgresql_concurrently=True)')
    (f,) = findings(rev, "concurrent-index-invalid-leftover")
    assert "already exists" in f.message, describe(rev)


def test_cic_after_drop_if_exists_is_not_reported(run):
    rev = run(AUTOCOMMIT + ex("DROP INDEX CONCURRENTLY IF EXISTS t_b") + "\n    "
              + 'op.create_index("t_b", "t", ["b"], postgresql_concurrently=True)')
    assert not rev.findings, describe(rev)


def test_cic_after_an_indisvalid_query_is_not_reported(run):
    rev = run(AUTOCOMMIT + ex("SELECT indisvalid FROM pg_index WHERE indexrelid = to_regclass('t_b')") + "\n    "
              + ex("CREATE INDEX CONCURRENTLY IF NOT EXISTS t_b ON t (b)"))
    assert not rev.findings, describe(rev)


def test_guard_op_create_index_concurrently_is_not_reported(run):
    rev = run('import alembic_guard.ops  # noqa: F401\nop.create_index_concurrently("t_b", "t", ["b"])')
    assert any("CREATE INDEX CONCURRENTLY IF NOT EXISTS" in st.sql for st in rev.statements), describe(rev)
    assert not rev.findings, describe(rev)


def test_cic_on_a_new_table_is_not_reported(run):
    rev = run('op.create_table("fresh2", sa.Column("id", sa.Integer))\n'
              + AUTOCOMMIT + ex("CREATE INDEX CONCURRENTLY IF NOT EXISTS fresh2_id ON fresh2 (id)"))
    assert not findings(rev, "concurrent-index-invalid-leftover"), describe(rev)
