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
    assert not findings(rev, "domain-constraint-scans-tables"), describe(rev)
    assert not findings(rev, severity="error")


def test_alter_domain_validate_in_the_migration_transaction(run):
    rev = run([TIMEOUT + ex("ALTER DOMAIN posint ADD CONSTRAINT posint_pos CHECK (VALUE > 0) NOT VALID"),
               TIMEOUT + ex("ALTER DOMAIN posint VALIDATE CONSTRAINT posint_pos")], extra=DOMAIN)
    (f,) = findings(rev, "domain-constraint-scans-tables")
    assert f.severity == "warning" and "VALIDATE CONSTRAINT posint_pos runs in the migration" in f.message, \
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
