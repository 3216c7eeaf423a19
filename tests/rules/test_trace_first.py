"""The trace decides: statements in autocommit blocks, strings of several statements, bound
parameters, DO blocks, function calls and renamed tables are all seen and judged by what the shadow
measured; what the trace could not see makes the verdict "unknown"."""

from __future__ import annotations

import pytest

from helpers import describe, findings, rules_fired

AUTOCOMMIT = "with op.get_context().autocommit_block():\n    "
TIMEOUT = "op.execute(\"SET LOCAL lock_timeout = '2s'\")\n"
BIG = "CREATE TABLE big (id int PRIMARY KEY, a int); INSERT INTO big SELECT g, g FROM generate_series(1, 300000) g;"


def ex(sql: str) -> str:
    return f"op.execute({sql!r})"


def test_check_constraint_in_autocommit_block_is_an_error_with_its_real_lock_and_scan(run):
    rev = run(AUTOCOMMIT + ex("ALTER TABLE big ADD CONSTRAINT big_a_check CHECK (a > 0)"), extra=BIG)
    st = rev.statements[-1]
    assert not st.in_transaction and not st.observation.sampled, describe(rev)
    assert ("big", "ACCESS EXCLUSIVE") in {(lk.relation, lk.mode) for lk in st.observation.new_locks}
    assert "big" in st.observation.seq_scans
    (f,) = findings(rev, "constraint-validated-in-place")
    assert f.severity == "error" and "ACCESS EXCLUSIVE on big" in f.message and rev.verdict == "unsafe"
    assert "blocking-lock-during-work" not in rules_fired(rev)  # explained by the specific rule


def test_concurrent_build_is_sampled_while_it_runs(run):
    rev = run(AUTOCOMMIT + ex("CREATE INDEX CONCURRENTLY big_a ON big (a)"), extra=BIG)
    st = rev.statements[-1]
    o = st.observation
    assert o.sampled and not st.in_transaction, describe(rev)
    assert ("big", "SHARE UPDATE EXCLUSIVE") in {(lk.relation, lk.mode) for lk in o.new_locks}
    assert "big" in o.seq_scans  # read from the flushed cumulative statistics
    assert rev.verdict != "unsafe"


def test_each_statement_of_one_string_is_traced_and_judged(run):
    rev = run(TIMEOUT + ex("ALTER TABLE t ADD COLUMN x int; CREATE INDEX ix_t_x ON t (x)"))
    parts = rev.statements[-2:]
    assert [p.part for p in parts] == [0, 1] and all(p.source_sql for p in parts), describe(rev)
    assert parts[1].sql.startswith("CREATE INDEX")
    (f,) = findings(rev, "create-index-non-concurrent")
    assert f.statement_index == parts[1].index


def test_a_string_of_several_statements_in_autocommit_shares_one_transaction(run):
    rev = run(AUTOCOMMIT + ex("SET lock_timeout = '2s'; ALTER TABLE big ADD CONSTRAINT c CHECK (a > 0)"),
              extra=BIG)
    first, second = rev.statements[-2:]
    assert first.in_transaction and second.in_transaction, describe(rev)
    assert first.observation.xact == second.observation.xact
    assert findings(rev, "constraint-validated-in-place")


def test_bound_parameters_are_judged_with_the_values_sent(run):
    rev = run('op.execute(sa.text("UPDATE t SET a = :v").bindparams(v=7))')
    st = rev.statements[-1]
    assert "= 7" in st.sql and st.source_sql and ":v" not in st.sql, describe(rev)
    (f,) = findings(rev, "backfill-in-migration-transaction")
    assert f.severity == "error"


def test_do_block_is_judged_by_its_trace(run):
    # dynamic SQL: what the body runs is known only when it runs (a static body is read: test_do_blocks.py)
    rev = run(TIMEOUT + ex("DO $$ BEGIN EXECUTE format('ALTER TABLE %I ADD CONSTRAINT big_a_check CHECK (a > 0)', 'big'); END $$"),
              extra=BIG)
    st = rev.statements[-1]
    assert st.coverage == "trace-only" and st.coverage_reason == "a DO block", describe(rev)
    (f,) = findings(rev, "blocking-lock-during-work")
    assert f.severity == "error" and "judged by trace only" in f.message and "ACCESS EXCLUSIVE on existing table big" \
        in f.message
    assert rev.coverage()["trace_only"] == 1


def test_function_call_is_judged_by_its_trace(run):
    fn = ("CREATE FUNCTION tighten() RETURNS void LANGUAGE plpgsql AS "
          "$$ BEGIN EXECUTE 'ALTER TABLE big ALTER COLUMN a ' || 'SET NOT NULL'; END $$;")
    # dynamic SQL: known only when it runs (a static body is read like a DO block's: test_do_blocks.py)
    rev = run(TIMEOUT + ex("SELECT tighten()"), extra=BIG + fn)
    st = rev.statements[-1]
    assert st.coverage == "trace-only" and "tighten" in st.coverage_reason, describe(rev)
    (f,) = findings(rev, "blocking-lock-during-work")
    assert "scans big" in f.message and rev.verdict == "unsafe"


def test_a_table_renamed_in_the_revision_is_still_an_existing_table(run):
    rev = run(TIMEOUT + ex("ALTER TABLE t RENAME TO t_renamed") + "\n"
              + 'op.create_index("ix_t_renamed_b", "t_renamed", ["b"])')
    (f,) = findings(rev, "create-index-non-concurrent")
    assert f.table == "t_renamed" and f.severity == "error", describe(rev)


def test_a_new_table_with_an_old_name_is_new(run):
    rev = run(TIMEOUT + ex("ALTER TABLE t RENAME TO t_old") + "\n"
              + 'op.create_table("t", sa.Column("id", sa.Integer, primary_key=True), sa.Column("b", sa.Text))\n'
              + 'op.create_index("ix_t_b", "t", ["b"])')
    assert not findings(rev, "create-index-non-concurrent"), describe(rev)


def test_statements_on_a_raw_connection_make_the_verdict_unknown(run):
    body = ("import psycopg\n"
            "with psycopg.connect('postgresql://app@db.invalid/prod', autocommit=True) as raw:\n"
            "    raw.execute('CREATE TABLE made_outside (id int)')")
    rev = run(body)
    assert rev.verdict == "unknown", describe(rev)
    assert any("raw psycopg connection" in u for u in rev.unseen)
    assert any("made_outside" in u for u in rev.unseen)  # the schema changed outside the trace
    assert rev.coverage()["not_seen"] == len(rev.unseen) >= 2


def test_ddl_on_a_table_the_same_transaction_drops_is_not_an_error(run):
    rev = run(TIMEOUT + ex("ALTER TABLE big ADD CONSTRAINT c CHECK (a > 0)") + "\n" + ex("DROP TABLE big"),
              extra=BIG)
    assert "constraint-validated-in-place" not in rules_fired(rev), describe(rev)
    assert "blocking-lock-during-work" not in rules_fired(rev)
    assert findings(rev, "drop-table")


def test_a_lock_the_revision_already_holds_does_not_queue(run):
    rev = run(TIMEOUT + 'op.add_column("t", sa.Column("x", sa.Integer))\n'
              + ex("SET LOCAL lock_timeout = 0") + "\n" + 'op.add_column("t", sa.Column("y", sa.Integer))')
    assert not findings(rev, "lock-without-timeout"), describe(rev)
    later = rev.statements[-1].observation.new_locks
    assert all(not lk.queued for lk in later if lk.relation == "t")


def test_write_blocking_locks_on_several_tables_accumulate(run):
    rev = run('op.add_column("t", sa.Column("x", sa.Integer))\n'
              'op.add_column("parent", sa.Column("x", sa.Integer))')
    (f,) = findings(rev, "locks-accumulate")
    assert f.table == "parent" and "ACCESS EXCLUSIVE on t" in f.message, describe(rev)


def test_accumulated_locks_with_lock_timeout_are_bounded(run):
    rev = run(TIMEOUT + 'op.add_column("t", sa.Column("x", sa.Integer))\n'
              'op.add_column("parent", sa.Column("x", sa.Integer))')
    assert not findings(rev, "locks-accumulate"), describe(rev)


@pytest.mark.parametrize("sql", [
    "UPDATE big SET a = a + 1 WHERE a > 5",  # a range on a non-unique column: the whole table
    "LOCK TABLE big IN SHARE MODE; UPDATE big SET a = 1 WHERE id = 3; SELECT count(*) FROM big",
])
def test_no_write_blocking_work_passes_silently(run, sql):
    rev = run(TIMEOUT + ex(sql), extra=BIG)
    assert rev.verdict == "unsafe", describe(rev)


def test_do_block_in_autocommit_is_wrapped_when_it_cannot_commit(run):
    rev = run(AUTOCOMMIT + ex("DO $$ BEGIN EXECUTE format('ALTER TABLE %I ADD CONSTRAINT big_a_check CHECK (a > 0)', 'big'); END $$"),
              extra=BIG)
    st = rev.statements[-1]
    assert not st.observation.sampled and not st.in_transaction, describe(rev)
    (f,) = findings(rev, "blocking-lock-during-work")
    assert "ACCESS EXCLUSIVE on existing table big" in f.message and "scans big" in f.message


def test_do_block_that_commits_is_sampled_and_never_safe_unseen(run):
    rev = run(AUTOCOMMIT + ex("DO $$ BEGIN EXECUTE format('ALTER TABLE %I ADD CONSTRAINT big_a_check CHECK (a > 0)', "
                              "'big'); COMMIT; END $$"), extra=BIG)
    st = rev.statements[-1]
    assert st.observation.sampled, describe(rev)
    # either the sampler caught the lock (an error), or the revision says it could not (unknown)
    assert rev.verdict in ("unsafe", "unknown")
    if rev.verdict == "unsafe":
        (f,) = findings(rev, "blocking-lock-during-work")
        assert "ACCESS EXCLUSIVE on existing table big" in f.message and "scans big" in f.message


def test_a_targeted_update_under_a_held_lock_is_not_a_table_scan(run):
    # on the shadow's one-row table the planner seq-scans even for WHERE id = 1
    rev = run(TIMEOUT + 'op.add_column("t", sa.Column("x", sa.Integer))\n' + ex("UPDATE t SET x = 1 WHERE id = 1"))
    assert "blocking-lock-during-work" not in rules_fired(rev), describe(rev)
    assert rev.verdict == "safe"


def test_work_under_locks_held_from_earlier_statements_is_one_finding(run):
    rev = run(TIMEOUT + 'op.add_column("t", sa.Column("x", sa.Integer))\n'
              'op.add_column("parent", sa.Column("x", sa.Integer))\n' + ex("SELECT count(*) FROM big"), extra=BIG)
    (f,) = findings(rev, "blocking-lock-during-work")
    assert "still holds" in f.message and "on t" in f.message and "on parent" in f.message, describe(rev)


@pytest.mark.parametrize("body", [
    # a wide key range is a batch bound, not a lookup: the scan under the lock stands
    TIMEOUT + ex("ALTER TABLE big ADD COLUMN x int") + "\n" + ex("UPDATE big SET x = 1 WHERE id BETWEEN 1 AND 2000000000"),
    # the primary key is gone: WHERE id = 5 scans the table
    TIMEOUT + ex("ALTER TABLE big DROP CONSTRAINT big_pkey") + "\n" + ex("UPDATE big SET a = 0 WHERE id = 5"),
    # rows written by a DO block under ACCESS EXCLUSIVE (an index scan, no seq scan)
    TIMEOUT + ex("ALTER TABLE big ADD COLUMN x int") + "\n" + ex("DO $$ BEGIN UPDATE big SET x = 1 WHERE id <= 3000; END $$"),
], ids=["wide-range", "dropped-key", "do-block-writes"])
def test_reviewed_shapes_do_not_pass_as_safe(run, body):
    rev = run(body, extra=BIG)
    assert rev.verdict == "unsafe", describe(rev)


def test_work_through_a_raw_cursor_of_the_migration_connection_is_not_safe(run):
    body = ("cur = op.get_bind().connection.dbapi_connection.cursor()\n"
            "cur.execute('ALTER TABLE big ADD CONSTRAINT big_a_chk CHECK (a > 0)')")
    rev = run(body, extra=BIG)
    assert rev.verdict == "unknown" and rev.unseen, describe(rev)


@pytest.mark.parametrize("raw", [
    "cur.execute('LOCK TABLE big IN ACCESS EXCLUSIVE MODE')",
    "cur.execute('ALTER TABLE big ADD COLUMN d int')",
], ids=["lock", "ddl"])
def test_a_raw_lock_is_unseen_even_when_the_previous_revision_took_the_same_one(run, raw):
    # each revision commits (transaction_per_migration): the ACCESS EXCLUSIVE the first revision took
    # on big ended with it, and a second revision that traces nothing holds its own, unseen
    first = TIMEOUT + ex("ALTER TABLE big ADD COLUMN c int")
    second = "cur = op.get_bind().connection.dbapi_connection.cursor()\n" + raw
    rev = run([first, second], extra=BIG)
    assert rev.verdict == "unknown" and rev.unseen, describe(rev)


def test_reindex_schema_in_autocommit_is_not_wrapped(run):
    rev = run(AUTOCOMMIT + ex("REINDEX SCHEMA public"))
    assert rev.error is None and rev.statements[-1].observation.sampled, describe(rev)


@pytest.mark.parametrize("body", [
    ex("DO $$ BEGIN DROP TABLE child; END $$"),
    ex("CREATE FUNCTION drop_it() RETURNS void LANGUAGE sql AS 'DROP TABLE child'") + "\n" + ex("SELECT drop_it()"),
], ids=["do-block", "function"])
def test_an_existing_table_dropped_where_the_parser_cannot_see_is_an_error(run, body):
    rev = run(TIMEOUT + body)
    (f,) = findings(rev, "drop-table")
    assert f.severity == "error" and "child" in f.message and "trace only" in f.message, describe(rev)
    assert rev.verdict == "unsafe"


LOOP = ("conn = op.get_bind()\n"
        "for (id_,) in conn.execute(sa.text('SELECT id FROM big WHERE a > 0')).fetchall():\n"
        "    conn.execute(sa.text('UPDATE big SET a = 0 WHERE id = :id'), {'id': id_})")


@pytest.mark.parametrize("body", [
    LOOP,
    "if op.get_bind().execute(sa.text('SELECT count(*) FROM big')).scalar():\n    " + ex("CREATE INDEX big_a ON big (a)"),
    "if op.get_bind().execute(sa.text('SELECT EXISTS (SELECT 1 FROM big)')).scalar():\n    " + ex("SELECT 1"),
    "op.get_bind().execute(sa.text('SELECT id FROM big FOR UPDATE')).all()",
], ids=["row-loop", "count", "exists", "for-update"])
def test_code_that_depends_on_rows_of_an_existing_table_is_unknown(run, body):
    """The shadow has none of production's rows: what the code does with them cannot be traced."""
    rev = run(body, extra="CREATE TABLE big (id int PRIMARY KEY, a int);")
    (f,) = findings(rev, "reads-existing-rows")
    assert "big" in f.message and f.fix and rev.verdict == "unknown", describe(rev)
    assert rev.coverage()["not_seen"] == 1


BIG_EMPTY = "CREATE TABLE big (id int PRIMARY KEY, a int); CREATE SEQUENCE s;"


@pytest.mark.parametrize("body", [
    "op.get_bind().execute(sa.text('SELECT count(*) FROM big')).scalar()"
    "  # alembic-guard: ignore[reads-existing-rows] only logged",
    ex("CREATE TABLE fresh (id int)") + "\n" + "op.get_bind().execute(sa.text('SELECT id FROM fresh')).all()",
    "import alembic_guard.ops  # noqa: F401\nop.backfill('big', {'a': '0'}, where='a IS NULL')",
    ex("SELECT setval('s', (SELECT max(id) FROM big))"),
    ex("WITH n AS (INSERT INTO big (id, a) VALUES (7, 7) RETURNING id) SELECT id FROM n"),
], ids=["suppressed", "new-table", "op-backfill", "server-side", "insert-returning"])
def test_reading_rows_is_not_unknown_when_suppressed_new_read_by_op_backfill_or_used_by_the_server(run, body):
    rev = run(body, extra=BIG_EMPTY)
    assert rev.verdict == "safe", describe(rev)
    assert "reads-existing-rows" not in rules_fired(rev) or all(f.suppressed for f in rev.findings)


FUNC = ("CREATE FUNCTION touch_t() RETURNS int LANGUAGE plpgsql AS "
        "$$ BEGIN EXECUTE 'UPDATE t SET a = 2 WHERE ' || 'true'; RETURN 1; END $$;"
        "CREATE TABLE log (v int); CREATE VIEW tv AS SELECT * FROM t;")


@pytest.mark.parametrize("body, how", [
    (ex("DO $$ BEGIN EXECUTE 'UPDATE t SET a = 1 WHERE ' || 'true'; END $$"), "a DO block"),
    (ex("DO $$ BEGIN EXECUTE format('DELETE FROM %I', 't'); END $$"), "a DO block"),
    (ex("SELECT touch_t()"), "calls touch_t"),
    (ex("INSERT INTO log VALUES (touch_t())"), "calls touch_t"),
    (ex("PREPARE q AS UPDATE t SET a = 3") + "\n" + ex("EXECUTE q"), "EXECUTE of prepared statement q"),
    (ex("UPDATE tv SET a = 4"), "a write through a view"),
    (ex("INSERT INTO t SELECT id + 100, a FROM t"), "an INSERT … SELECT"),
], ids=["do-update", "do-dynamic-delete", "select-function", "insert-function", "prepared", "view", "insert-select"])
@pytest.mark.parametrize("rows", ["seeded", "empty"])
def test_rows_of_an_existing_table_written_where_the_sql_does_not_say_which_are_unknown(run, body, how, rows):
    """The shadow measured a write (rows changed, or a scan under ROW EXCLUSIVE on an empty table); the
    SQL cannot bound it: never "safe"."""
    rev = run(TIMEOUT + body, extra=FUNC + ("DELETE FROM child; DELETE FROM t;" if rows == "empty" else ""))
    (f,) = findings(rev, "writes-existing-rows")
    assert f.table == "t" and how in f.message and f.fix, describe(rev)
    assert rev.verdict == "unknown" and rev.coverage()["not_seen"] == 1, describe(rev)


@pytest.mark.parametrize("body, severity", [
    (ex("WITH d AS (DELETE FROM t RETURNING *) INSERT INTO log SELECT a FROM d"), "error"),
    (ex("WITH u AS (UPDATE t SET a = 4 RETURNING id) SELECT 1"), "error"),
    (ex("WITH u AS (UPDATE t SET a = 4 WHERE id = 1 RETURNING id) SELECT 1"), "warning"),
], ids=["delete-all", "update-all", "update-one"])
def test_an_update_or_delete_in_a_with_clause_is_judged_as_a_backfill(run, body, severity):
    rev = run(TIMEOUT + body, extra=FUNC)
    (f,) = findings(rev, "backfill-in-migration-transaction")
    assert f.severity == severity and f.table == "t", describe(rev)
    assert "writes-existing-rows" not in rules_fired(rev)


@pytest.mark.parametrize("body", [
    ex("INSERT INTO t (id, a) VALUES (7, 7)") + "\n" + ex("CREATE TABLE fresh AS SELECT * FROM t"),
    ex("INSERT INTO log SELECT a FROM t WHERE id = 1"),
    ex("DO $$ BEGIN UPDATE t SET a = 1; END $$") + "  # alembic-guard: ignore[writes-existing-rows] one row",
    ex("DO $$ BEGIN INSERT INTO log VALUES (1); END $$"),
    "import alembic_guard.ops  # noqa: F401\nop.backfill('t', {'a': '0'}, where='a IS NULL')",
], ids=["insert-then-read-new", "copy-out", "suppressed", "do-insert-new-rows", "op-backfill"])
def test_inserts_reads_and_acknowledged_writes_are_not_unknown(run, body):
    rev = run(TIMEOUT + body, extra=FUNC)
    assert "writes-existing-rows" not in {f.rule for f in rev.findings if not f.suppressed}, describe(rev)
    assert rev.verdict != "unknown", describe(rev)


SLEEP = "__import__('time').sleep(0.7)"
ADD = 'op.add_column("t", sa.Column("w", sa.Integer(), nullable=True))'
SLOW_LOCK = ("CREATE FUNCTION lock_t() RETURNS int LANGUAGE plpgsql AS "
             "$$ BEGIN EXECUTE 'LOCK TABLE t IN ' || 'ACCESS EXCLUSIVE MODE'; RETURN 1; END $$; "
             "CREATE TABLE log (v int);")


@pytest.mark.parametrize("body, python", [
    (TIMEOUT + ADD + "\n" + SLEEP, True),
    (TIMEOUT + ADD + "\n" + SLEEP + "\n" + ex("CREATE TABLE fresh (id int)"), True),
    (TIMEOUT + ADD + "\n" + ex("SELECT pg_sleep(0.7)"), False),
    (TIMEOUT + ex("INSERT INTO log VALUES (lock_t())") + "\n" + ex("SELECT pg_sleep(0.7)"), False),
], ids=["python-after", "python-between", "pg-sleep", "lock-in-function"])
def test_a_traffic_blocking_lock_held_for_seconds_is_an_error_however_the_time_went(run, body, python):
    rev = run(body, extra=SLOW_LOCK)
    (f,) = findings(rev, "lock-held-long")
    assert f.severity == "error" and f.table == "t" and "ACCESS EXCLUSIVE" in f.message, describe(rev)
    assert ("in the revision's Python code" in f.message) == python, f.message
    (lk,) = [lk for st in rev.statements for lk in st.observation.new_locks if lk.relation == "t"]
    assert lk.held_ms >= 650, lk  # the report's hold counts the Python time too
    assert rev.verdict == "unsafe"


@pytest.mark.parametrize("body", [
    SLEEP + "\n" + TIMEOUT + ADD,
    TIMEOUT + ADD,
    AUTOCOMMIT.rstrip() + "\n    " + ex("SELECT 1") + "\n" + SLEEP,
    AUTOCOMMIT + ex("SET lock_timeout = '2s'") + "\n    " + ADD + "\n" + SLEEP,
    TIMEOUT + ADD + "\n" + AUTOCOMMIT + SLEEP,
], ids=["slow-part-first", "quick", "nothing-held", "committed-before-the-sleep", "sleep-after-a-commit"])
def test_a_lock_taken_last_or_briefly_is_not_held_long(run, body):
    rev = run(body, extra=SLOW_LOCK)
    assert "lock-held-long" not in rules_fired(rev), describe(rev)


def test_a_raw_cursor_write_between_two_statements_is_not_lost(run):
    raw = "op.get_bind().connection.dbapi_connection.cursor().execute('UPDATE t SET a = 9')"
    rev = run(TIMEOUT + ex("CREATE TABLE fresh (id int)") + "\n" + raw + "\n" + ex("CREATE TABLE fresh2 (id int)"))
    assert rev.verdict != "safe" and any("outside the traced statements" in r for r in rev.unseen), describe(rev)
