"""A DO block's PL/pgSQL body is read statement by statement (sql/plpgsql.py): the rules judge what
it runs as they judge the same statements written directly, and the trace still judges the whole."""

from __future__ import annotations

import pytest

from alembic_guard.sql.parse import parse_one
from alembic_guard.sql.plpgsql import embedded_statements
from helpers import describe, findings, rules_fired

TIMEOUT = "op.execute(\"SET LOCAL lock_timeout = '2s'\")\n"


def do(body: str) -> str:
    return f"op.execute({'DO $$ BEGIN ' + body + ' END $$'!r})"


def test_the_statements_of_a_do_block_are_read_from_its_body():
    sql = ("DO $x$ DECLARE r record; n int; BEGIN "
           "IF NOT EXISTS (SELECT 1 FROM pg_attribute WHERE attname = 'x') THEN ALTER TABLE t ADD COLUMN x int; END IF; "
           "EXECUTE 'LOCK TABLE t'; EXECUTE format('UPDATE %I SET a = 1', 't'); "
           "FOR r IN SELECT id FROM t LOOP UPDATE t SET a = 2 WHERE id = r.id; END LOOP; "
           "RAISE NOTICE 'no $$ here'; END $x$")
    kinds = [type(n).__name__ for n in embedded_statements(parse_one(sql))]
    assert kinds == ["AlterTableStmt", "LockStmt", "SelectStmt", "UpdateStmt"]  # not the IF condition
    assert embedded_statements(parse_one("DO LANGUAGE plpgsql $$ BEGIN not valid pl/pgsql; END $$")) == []
    assert embedded_statements(parse_one("SELECT 1")) == []


@pytest.mark.parametrize("body, rule, severity", [
    ("ALTER TABLE t RENAME COLUMN a TO a2;", "rename-column", None),
    ("ALTER TABLE t DROP COLUMN note;", "drop-column", None),
    ("ALTER TABLE t DISABLE TRIGGER ALL;", "disable-trigger", "error"),
    ("EXECUTE 'LOCK TABLE t IN ACCESS EXCLUSIVE MODE';", "lock-table", "error"),
    ("CREATE INDEX t_b ON t (b);", "create-index-non-concurrent", "error"),
    ("IF NOT EXISTS (SELECT 1 FROM pg_indexes WHERE indexname = 't_b') THEN CREATE INDEX t_b ON t (b); END IF;",
     "create-index-non-concurrent", "error"),
], ids=["rename-column", "drop-column", "disable-trigger-all", "execute-lock", "create-index", "idempotent-index"])
def test_a_statement_inside_a_do_block_gets_the_finding_it_gets_written_directly(run, body, rule, severity):
    rev = run(TIMEOUT + do(body))
    (f,) = findings(rev, rule)
    assert severity is None or f.severity == severity, describe(rev)
    assert rev.verdict != "safe", describe(rev)


def test_a_backfill_inside_a_do_block_is_judged_as_one(run):
    rev = run(TIMEOUT + do("UPDATE t SET a = 1;"))
    (f,) = findings(rev, "backfill-in-migration-transaction")
    assert f.severity == "error" and "writes-existing-rows" not in rules_fired(rev), describe(rev)


def test_a_variable_in_a_do_block_pins_rows_as_a_parameter_does(run):
    rev = run(TIMEOUT + "op.execute(" + repr(
        "DO $$ DECLARE v_id int := 1; BEGIN UPDATE t SET a = 5 WHERE id = v_id; END $$") + ")")
    (f,) = findings(rev, "backfill-in-migration-transaction")
    assert f.severity == "warning" and "targeted" in f.message, describe(rev)


def test_a_loop_over_the_rows_of_an_existing_table_is_never_safe(run):
    rev = run(TIMEOUT + "op.execute(" + repr(
        "DO $$ DECLARE r record; BEGIN FOR r IN SELECT id FROM t LOOP "
        "UPDATE t SET a = 2 WHERE id = r.id; END LOOP; END $$") + ")")
    assert {"reads-existing-rows", "backfill-in-migration-transaction"} <= rules_fired(rev), describe(rev)
    assert rev.verdict == "unsafe"


def test_an_idempotent_do_block_adding_a_nullable_column_stays_safe(run):
    rev = run(TIMEOUT + do("IF NOT EXISTS (SELECT 1 FROM information_schema.columns WHERE table_name = 't' "
                           "AND column_name = 'x') THEN ALTER TABLE t ADD COLUMN x int; END IF;"))
    assert rev.verdict == "safe", describe(rev)


@pytest.mark.parametrize("create, call, rule", [
    ("CREATE FUNCTION lock_t() RETURNS int LANGUAGE plpgsql AS $$ BEGIN LOCK TABLE t; RETURN 1; END $$",
     "SELECT lock_t()", "lock-table"),
    ("CREATE FUNCTION fill_t() RETURNS void LANGUAGE sql AS $$ UPDATE t SET a = 2 $$",
     "SELECT fill_t()", "backfill-in-migration-transaction"),
    ("CREATE PROCEDURE rename_t() LANGUAGE plpgsql AS $$ BEGIN ALTER TABLE t RENAME COLUMN note TO remark; END $$",
     "CALL rename_t()", "rename-column"),
], ids=["plpgsql-function", "sql-function", "procedure"])
def test_the_body_of_a_called_function_is_read_like_a_do_block(run, create, call, rule):
    rev = run(TIMEOUT + f"op.execute({create!r})\nop.execute({call!r})")
    (f,) = findings(rev, rule)
    assert f.statement_index == len(rev.statements) - 1, describe(rev)  # on the call, where it runs
    assert rev.statements[-1].coverage == "trace-only" and rev.verdict != "safe", describe(rev)


NOISE_SETUP = (
    "CREATE TABLE kid (id int PRIMARY KEY, t_id int REFERENCES t (id) ON DELETE CASCADE); INSERT INTO kid VALUES (1, 1);"
    "CREATE TABLE orders (id int PRIMARY KEY, t_id int); CREATE INDEX t_b ON t (b);"
    "CREATE FUNCTION bump() RETURNS trigger LANGUAGE plpgsql AS "
    "$$ BEGIN UPDATE t SET a = a + 1 WHERE id = NEW.t_id; RETURN NEW; END $$;"
    "CREATE TRIGGER orders_bump AFTER INSERT ON orders FOR EACH ROW EXECUTE FUNCTION bump();")


@pytest.mark.parametrize("body", [
    "op.execute(\"INSERT INTO t (id, a) VALUES (1, 2), (9, 9) ON CONFLICT (id) DO UPDATE SET a = EXCLUDED.a\")",
    do("UPDATE t SET a = 5 WHERE id = 1;"),
    do("IF EXISTS (SELECT 1 FROM t WHERE a IS NULL) THEN RAISE NOTICE 'nulls'; END IF;"),
    "op.execute(\"DELETE FROM t WHERE id = 1\")",
    "op.execute(\"INSERT INTO orders VALUES (1, 1)\")",
    do("IF NOT EXISTS (SELECT 1 FROM pg_indexes WHERE indexname = 't_b') THEN CREATE INDEX t_b ON t (b); END IF;"),
    'op.add_column("t", sa.Column("w", sa.Integer()))\n' + "\n".join(
        f'op.create_table("new{i}", sa.Column("id", sa.Integer(), primary_key=True), sa.Column("t_id", sa.Integer()))\n'
        f'op.create_index("ix_new{i}", "new{i}", ["t_id"])' for i in range(30)),
], ids=["values-upsert", "do-targeted-update", "do-if-exists", "cascading-delete", "counter-trigger",
        "do-branch-not-taken", "many-fast-statements"])
def test_harmless_patterns_raise_no_trace_first_alarm(run, body):
    rev = run(TIMEOUT + body, extra=NOISE_SETUP)
    fired = rules_fired(rev)
    assert not fired & {"writes-existing-rows", "lock-held-long", "reads-existing-rows",
                        "create-index-non-concurrent"}, describe(rev)
    assert rev.verdict == "safe", describe(rev)


@pytest.mark.parametrize("body", [
    "DO $$ DECLARE v int; BEGIN FOR v IN 1..1000 LOOP UPDATE t SET a = 1 WHERE id = v; END LOOP; END $$",
    "DO $$ DECLARE lo int := 0; hi int := 0; BEGIN SELECT min(id), max(id) INTO lo, hi FROM t; "
    "UPDATE t SET a = 1 WHERE id BETWEEN lo AND hi; END $$",
], ids=["loop-variable", "assigned-from-a-query"])
def test_a_variable_that_takes_many_values_does_not_pin_rows(run, body):
    rev = run(TIMEOUT + f"op.execute({body!r})")
    assert rev.verdict != "safe", describe(rev)
