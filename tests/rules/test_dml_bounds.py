"""backfill-in-migration-transaction: bounded (targeted, batched) vs full-table UPDATE/DELETE, read from
the WHERE clause against the table's real unique keys; the fixes name the real key and keep FROM/USING.
Every case runs on the shadow through the ``run`` fixture."""

from __future__ import annotations

import psycopg
import pytest

from helpers import SCHEMA, SEED, describe, findings, run_revisions

RULE = "backfill-in-migration-transaction"
AUTOCOMMIT = "with op.get_context().autocommit_block():\n    "
TIMEOUT = 'op.execute("SET LOCAL lock_timeout = \'2s\'")\n'

# Tables whose keys are not ``t.id``: a primary key named otherwise plus a unique key, a composite
# primary key, no key at all.
EXTRA = """
CREATE TABLE acct (acct_no int PRIMARY KEY, email text NOT NULL UNIQUE, status text, pid int);
INSERT INTO acct SELECT g, 'u' || g || '@x', NULL, 1 FROM generate_series(1, 12) g;
CREATE TABLE pair (a int, b int, v text, PRIMARY KEY (a, b));
INSERT INTO pair SELECT g % 3, g, NULL FROM generate_series(1, 12) g;
CREATE TABLE nokey (a int, v text);
INSERT INTO nokey SELECT g, NULL FROM generate_series(1, 12) g;
"""


def ex(sql: str) -> str:
    return f"op.execute({sql!r})"


def flat(fix: str) -> str:
    """A fix with its long SQL strings (adjacent Python literals, one per line) joined again."""
    return fix.replace('"\n            "', "")


def one(rev):
    fs = findings(rev, RULE)
    assert len(fs) == 1, describe(rev)
    return fs[0]


# -- targeted: warnings only ------------------------------------------------------------------------

@pytest.mark.parametrize("sql, why", [
    ("UPDATE t SET note = 'x' WHERE id = 1", "equality on primary key id"),
    ("UPDATE t SET note = 'x' WHERE t.id = 1 AND note IS DISTINCT FROM 'x'", "equality on primary key id"),
    ("DELETE FROM t WHERE id IN (1, 2, 3)", "IN-list on primary key id"),
    ("UPDATE t SET note = 'x' WHERE id = ANY('{1,2}'::int[])", "IN-list on primary key id"),
    ("UPDATE acct SET status = 'ok' WHERE acct_no = 3", "equality on primary key acct_no"),
    ("UPDATE acct SET status = 'ok' WHERE email = 'u1@x'", "equality on unique key email"),
    ("DELETE FROM pair WHERE a = 1 AND b = 4", "equality on primary key (a, b)"),
    ("DELETE FROM pair WHERE (a, b) IN ((1, 4), (2, 5))", "IN-list on primary key (a, b)"),
    ("UPDATE t SET note = 'x' WHERE id = 1 OR id = 2", "an OR of bounded terms"),
    # a statement whose bound parameters were substituted: literal values, the same verdict
    ("UPDATE acct SET status = 'ok' WHERE acct_no = 7 AND email = 'u7@x'", "equality on primary key acct_no"),
])
def test_targeted_dml_is_a_warning(run, sql, why):
    rev = run(TIMEOUT + ex(sql), extra=EXTRA)
    f = one(rev)
    assert f.severity == "warning" and rev.verdict == "safe" and why in f.message, describe(rev)
    assert "autocommit_block" in f.fix and "op.backfill" not in f.fix  # no full-table walk for one row


def test_parameters_pin_the_key():
    from alembic_guard.rules._dml import classify
    from alembic_guard.sql import parse_one

    for sql in ("UPDATE t SET note = 'x' WHERE id = $1", "DELETE FROM pair WHERE a = $1 AND b = ANY($2)"):
        keys = [("id",)] if " t " in sql else [("a", "b")]
        assert classify(parse_one(sql), keys).bounded, sql


def test_bind_parameters_through_sqlalchemy(run):
    rev = run(TIMEOUT + 'op.get_bind().execute(sa.text("UPDATE t SET note = :n WHERE id = :i"), '
                        '{"n": "x", "i": 1})')
    assert not findings(rev, RULE, "error"), describe(rev)


# -- unbounded: errors in the migration transaction, warnings in an autocommit block ---------------

UNBOUNDED = [
    ("UPDATE t SET note = 'x'", "no WHERE clause"),
    ("DELETE FROM t", "no WHERE clause"),
    ("UPDATE t SET note = 'x' WHERE true", "constant"),
    ("UPDATE t SET note = 'x' WHERE a > 0", "range on a (not a unique column)"),
    ("DELETE FROM t WHERE a < 0", "range on a (not a unique column)"),
    ("UPDATE t SET note = 'x' WHERE id >= 1", "range on id has only one end"),
    ("UPDATE t SET note = 'x' WHERE a = 1", "pins no key of the table (primary key id)"),
    ("UPDATE t SET note = 'x' WHERE note IS NULL", "only tests the columns it sets"),
    ("UPDATE t SET note = p.name FROM parent p WHERE t.pid = p.id", "it joins parent AS p (FROM)"),
    ("DELETE FROM child USING parent p WHERE child.parent_id = p.id", "it joins parent AS p (USING)"),
    ("UPDATE t SET note = 'x' WHERE id IN (SELECT id FROM t WHERE a > 0)", "subquery without LIMIT"),
    ("UPDATE t SET note = 'x' WHERE a IN (SELECT id FROM parent LIMIT 10)", "pins no key"),
    ("UPDATE t SET note = 'x' WHERE id = 1 OR a = 2", "one term of its OR (a = 2)"),
    ("DELETE FROM pair WHERE a = 1", "pins no key of the table (primary key (a, b))"),
    ("UPDATE acct SET status = 'ok' WHERE acct_no <> 1", "pins no key"),
    ("DELETE FROM nokey WHERE a = 1", "no primary key or unique key"),
]


@pytest.mark.parametrize("sql, why", [
    ("MERGE INTO t USING (SELECT id FROM t) s ON t.id = s.id WHEN MATCHED THEN UPDATE SET note = 'm'",
     "merges the rows of a table or query"),
    ("MERGE INTO t USING parent p ON t.pid = p.id WHEN MATCHED THEN DELETE", "merges the rows of a table"),
    ("INSERT INTO t (id, a) SELECT id, a FROM t ON CONFLICT (id) DO UPDATE SET note = 'u'",
     "its rows come from a query"),
], ids=["merge-update", "merge-delete", "upsert-from-query"])
def test_other_shapes_of_a_full_table_backfill_are_errors(run, sql, why):
    rev = run(TIMEOUT + ex(sql), extra=EXTRA)
    f = one(rev)
    assert f.severity == "error" and rev.verdict == "unsafe" and why in f.message, describe(rev)


@pytest.mark.parametrize("sql", [
    "INSERT INTO t (id, a) VALUES (1, 1), (2, 2) ON CONFLICT (id) DO UPDATE SET a = excluded.a",
    "INSERT INTO t (id, a) SELECT id, a FROM t ON CONFLICT DO NOTHING",
    "MERGE INTO t USING (VALUES (1, 'x')) v(id, note) ON t.id = v.id WHEN MATCHED THEN UPDATE SET note = v.note",
])
def test_a_values_upsert_is_no_backfill(run, sql):
    rev = run(TIMEOUT + ex(sql), extra=EXTRA)
    assert not findings(rev, "backfill-in-migration-transaction"), describe(rev)


@pytest.mark.parametrize("sql, why", UNBOUNDED)
def test_unbounded_dml_is_an_error_in_the_transaction(run, sql, why):
    rev = run(TIMEOUT + ex(sql), extra=EXTRA)
    f = one(rev)
    assert f.severity == "error" and rev.verdict == "unsafe" and why in f.message, describe(rev)
    assert "full-table" in f.message


@pytest.mark.parametrize("sql, why", UNBOUNDED)
def test_unbounded_dml_is_an_error_in_an_autocommit_block(run, sql, why):
    # one unbatched statement is one long transaction wherever it runs: the same error
    rev = run(AUTOCOMMIT + ex(sql), extra=EXTRA)
    f = one(rev)
    assert f.severity == "error" and rev.verdict == "unsafe" and why in f.message, describe(rev)
    assert "one long transaction" in f.message and "batch" in f.fix


# -- batch bounds: never an error ------------------------------------------------------------------

@pytest.mark.parametrize("sql", [
    "UPDATE t SET note = 'x' WHERE id IN (SELECT id FROM t WHERE note IS NULL LIMIT 1000)",
    "UPDATE t SET note = 'x' WHERE id = ANY(ARRAY(SELECT id FROM t WHERE note IS NULL LIMIT 1000))",
    "UPDATE t SET note = 'x' WHERE id >= 1 AND id < 1001",
    "UPDATE t SET note = 'x' WHERE id BETWEEN 1 AND 1000 AND note IS NULL",
    "DELETE FROM nokey WHERE ctid = ANY(ARRAY(SELECT ctid FROM nokey WHERE v IS NULL LIMIT 1000))",
    "UPDATE nokey SET v = 'x' WHERE ctid >= '(0,0)' AND ctid < '(100,0)'",
    "DELETE FROM pair WHERE (a, b) IN (SELECT a, b FROM pair WHERE v IS NULL LIMIT 5)",
    "WITH batch AS (SELECT id FROM t WHERE note IS NULL LIMIT 1000) "
    "UPDATE t SET note = 'x' WHERE id IN (SELECT id FROM batch)",
])
@pytest.mark.parametrize("autocommit", [False, True])
def test_batch_bounds_are_not_errors(run, sql, autocommit):
    rev = run((AUTOCOMMIT if autocommit else TIMEOUT) + ex(sql), extra=EXTRA)
    assert not findings(rev, RULE, "error"), describe(rev)
    if autocommit:
        assert not findings(rev, RULE), describe(rev)
    else:
        assert "a batch" in one(rev).message


def test_correlated_limited_subquery_is_not_a_batch(run):
    rev = run(TIMEOUT + ex("UPDATE t SET note = 'x' WHERE id IN "
                           "(SELECT p.id FROM parent p WHERE p.id = t.pid LIMIT 1)"))
    assert one(rev).severity == "error", describe(rev)


# -- the fixes name the real key, keep FROM/USING, and work ----------------------------------------

def run_fix(shadow, tmp_path, fix: str, query: str):
    """Run a finding's fix as a revision of its own on a fresh copy of the schema; return the
    revision and the rows of ``query`` afterwards."""
    from alembic_guard.shadow import scratch_database

    with scratch_database(shadow) as name:
        (rev,) = run_revisions(shadow, name, tmp_path / "fix", [fix], setup=SCHEMA + SEED + EXTRA)
        assert rev.error is None, rev.error
        with psycopg.connect(shadow.conninfo(name), autocommit=True) as c:
            return rev, c.execute(query).fetchall()


def test_update_fix_names_the_real_primary_key(run):
    f = one(run(TIMEOUT + ex("UPDATE acct SET status = 'ok', pid = 2 WHERE status IS NULL"), extra=EXTRA))
    assert 'op.backfill("acct", {"status": "\'ok\'", "pid": "2"}, where="status IS NULL")' in f.fix, f.fix
    assert "primary key (acct_no)" in f.fix and '"id"' not in f.fix


def test_delete_fix_uses_the_real_primary_key_and_works(run, shadow, tmp_path):
    f = one(run(TIMEOUT + ex("DELETE FROM acct WHERE acct_no % 2 = 0 AND email LIKE 'u%'"), extra=EXTRA))
    assert "WHERE acct.acct_no IN (SELECT acct_no FROM batch) AND (acct_no % 2 = 0" in flat(f.fix) and " id " not in f.fix, \
        f.fix
    rev, rows = run_fix(shadow, tmp_path, f.fix, "SELECT count(*), bool_and(acct_no % 2 = 1) FROM acct")
    assert not findings(rev, RULE) and rows == [(6, True)], describe(rev)


def test_delete_fix_for_a_composite_key_selects_whole_tuples(run, shadow, tmp_path):
    f = one(run(TIMEOUT + ex("DELETE FROM pair WHERE a = 1"), extra=EXTRA))
    assert "primary key (a, b)" in f.fix and "(a, b) > (:k0, :k1)" in f.fix, f.fix
    assert "(pair.a, pair.b) IN (SELECT a, b FROM batch) AND a = 1" in flat(f.fix), f.fix
    rev, rows = run_fix(shadow, tmp_path, f.fix, "SELECT count(*) FILTER (WHERE a = 1), count(*) FROM pair")
    assert not findings(rev, RULE) and rows == [(0, 8)], describe(rev)


def test_delete_fix_without_a_key_is_a_plan_with_ctid_batches(run, shadow, tmp_path):
    # no key: a refusal with a plan (make a key first), ctid batches as its last step; the plan is
    # comments only, its ctid step runs as written
    f = one(run(TIMEOUT + ex("DELETE FROM nokey WHERE a > 6"), extra=EXTRA))
    assert "no primary key and no unique NOT NULL key" in f.fix and "ctid = ANY(ARRAY(SELECT nokey.ctid" in f.fix, f.fix
    assert all(ln.startswith("#") for ln in f.fix.splitlines()), f.fix
    step = f.fix.split("in ctid batches", 1)[1].split("\n", 1)[1]
    code = "\n".join(ln.removeprefix("#     ") for ln in step.splitlines())
    rev, rows = run_fix(shadow, tmp_path, code, "SELECT count(*), max(a) FROM nokey")
    assert not findings(rev, RULE) and rows == [(6, 6)], describe(rev)


def test_delete_fix_keeps_using(run, shadow, tmp_path):
    f = one(run(TIMEOUT + ex("DELETE FROM acct x USING parent p WHERE x.pid = p.id AND p.name = 'x'"),
                extra=EXTRA))
    assert "DELETE FROM acct AS x USING parent AS p WHERE x.acct_no IN (SELECT acct_no FROM batch) AND " \
           "(x.pid = p.id" in flat(f.fix), f.fix
    rev, rows = run_fix(shadow, tmp_path, f.fix, "SELECT count(*) FROM acct")
    assert not findings(rev, RULE) and rows == [(0,)], describe(rev)


def test_update_fix_keeps_from(run, shadow, tmp_path):
    f = one(run(TIMEOUT + ex("UPDATE acct SET status = p.name FROM parent p WHERE acct.pid = p.id"), extra=EXTRA))
    assert "op.backfill(" not in f.fix and "FROM parent AS p" in f.fix and "keyset batches" in f.fix, f.fix
    assert "acct_no" in f.fix
    rev, rows = run_fix(shadow, tmp_path, f.fix, "SELECT count(*) FROM acct WHERE status = 'x'")
    assert not findings(rev, RULE) and rows == [(12,)], describe(rev)


def test_update_fix_keeps_from_with_a_composite_key(run, shadow, tmp_path):
    f = one(run(TIMEOUT + ex("UPDATE pair AS pr SET v = p.name || '%' FROM parent p WHERE pr.a >= p.id"),
                extra=EXTRA))
    assert "(pr.a, pr.b) IN (SELECT a, b FROM batch)" in f.fix, f.fix
    rev, rows = run_fix(shadow, tmp_path, f.fix, "SELECT count(*) FILTER (WHERE v = 'x%'), count(*), string_agg(DISTINCT v, '|') FROM pair")
    assert not findings(rev, RULE) and rows == [(8, 12, 'x%')], (describe(rev), f.fix)


def test_update_fix_without_a_key_is_a_plan(run):
    f = one(run(TIMEOUT + ex("UPDATE nokey SET v = 'x'"), extra=EXTRA))
    assert "no primary key and no unique NOT NULL key" in f.fix and 'key_columns=["<unique NOT NULL column>"]' in f.fix


def test_update_fix_keeps_every_assignment(run):
    f = one(run(TIMEOUT + ex("UPDATE t SET note = 'x', b = 'y'"), extra=EXTRA))
    assert '{"note": "\'x\'", "b": "\'y\'"}' in f.fix and "where=" not in f.fix.split("op.backfill")[1], f.fix


def test_a_set_reading_what_it_writes_is_a_plan_with_a_marker_column(run):
    # SET a = a + 1 applied twice when a batch is rerun after a failure: refused, with a marker column
    f = one(run(TIMEOUT + ex("UPDATE t SET note = 'x', a = a + 1"), extra=EXTRA))
    assert "reads a, which it writes" in f.fix and "apply it twice" in f.fix, f.fix
    assert '{"note": "\'x\'", "a": "a + 1", "a_backfilled": "TRUE"}' in f.fix, f.fix
    assert 'where="a_backfilled IS NOT TRUE"' in f.fix and all(ln.startswith("#") for ln in f.fix.splitlines())


# -- add-column-not-null-without-default after the table was emptied --------------------------------

@pytest.mark.parametrize("empty", ["TRUNCATE parent CASCADE", "DELETE FROM child", "TRUNCATE child"])
def test_add_not_null_column_after_emptying_the_table_is_not_reported(run, empty):
    table = "parent" if "parent" in empty else "child"
    rev = run(TIMEOUT + ex(empty) + "\n"
              + f'op.add_column("{table}", sa.Column("code", sa.String(10), nullable=False))')
    assert not findings(rev, "add-column-not-null-without-default"), describe(rev)


def test_add_not_null_column_after_a_partial_delete_is_reported(run):
    rev = run(TIMEOUT + ex("DELETE FROM child WHERE id > 5") + "\n"
              + 'op.add_column("child", sa.Column("code", sa.String(10), nullable=False))',
              setup="CREATE TABLE child (id int PRIMARY KEY)")
    assert findings(rev, "add-column-not-null-without-default"), describe(rev)


def test_targeted_fix_runs_in_a_transaction_of_its_own(run, shadow, tmp_path):
    f = one(run(TIMEOUT + ex("UPDATE acct SET status = 'ok' WHERE acct_no IN (1, 2)"), extra=EXTRA))
    rev, rows = run_fix(shadow, tmp_path, f.fix, "SELECT count(*) FROM acct WHERE status = 'ok'")
    assert not findings(rev, RULE) and rows == [(2,)], describe(rev)


def test_delete_fix_for_a_partitioned_table_without_a_key_is_a_plan(run):
    rev = run(TIMEOUT + ex("DELETE FROM ev WHERE day < 3"), extra=
              "CREATE TABLE ev (day int, v text) PARTITION BY RANGE (day);"
              "CREATE TABLE ev1 PARTITION OF ev FOR VALUES FROM (0) TO (10);"
              "INSERT INTO ev SELECT g, 'x' FROM generate_series(0, 9) g;")
    f = one(rev)
    assert f.severity == "error" and "partitioned" in f.fix and "DELETE FROM ev1 WHERE ctid" in f.fix, \
        (describe(rev), f.fix)
    assert all(ln.startswith("#") for ln in f.fix.splitlines())  # a plan, not code that could delete the wrong rows
