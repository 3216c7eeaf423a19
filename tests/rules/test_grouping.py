"""Findings that repeat the same advice in one revision are reported once, listing the statements."""

from __future__ import annotations

import json

from helpers import describe, findings

AUTOCOMMIT = "with op.get_context().autocommit_block():\n    "
TIMEOUT = 'op.execute("SET LOCAL lock_timeout = \'2s\'")\n'


def ex(sql: str) -> str:
    return f"op.execute({sql!r})"


THREE_TABLES = ('op.add_column("t", sa.Column("x", sa.Text))\n'
                'op.add_column("parent", sa.Column("x", sa.Text))\n'
                + ex("CREATE TRIGGER c_sru BEFORE UPDATE ON child FOR EACH ROW "
                     "EXECUTE FUNCTION suppress_redundant_updates_trigger()"))


def test_lock_without_timeout_on_every_statement_is_one_finding(run):
    rev = run(THREE_TABLES)
    (f,) = findings(rev, "lock-without-timeout")
    lines = [st.line for st in rev.statements if st.observation.new_locks and st.line][:3]
    assert f.lines == sorted(set(lines)) and len(f.lines) == 3 and f.line == f.lines[0], describe(rev)
    assert f.message.startswith("3 statements take write-blocking locks with no lock_timeout: lines "), f.message
    assert (f"{f.lines[0]} (ACCESS EXCLUSIVE on t)" in f.message and f"{f.lines[1]} (ACCESS EXCLUSIVE on parent)"
            in f.message and f"{f.lines[2]} (SHARE ROW EXCLUSIVE on child)" in f.message), f.message
    assert f.table == "t" and set(f.relations) == {"parent", "child"}
    assert "SET LOCAL lock_timeout" in f.fix and f.fix.count("SET LOCAL lock_timeout") == 1
    assert f.to_json()["lines"] == f.lines
    json.dumps(f.to_json())


def test_locks_accumulate_is_grouped_too(run):
    rev = run(THREE_TABLES)
    (f,) = findings(rev, "locks-accumulate")
    assert len(f.lines) == 2 and f.message.startswith("2 statements take a write-blocking lock while"), describe(rev)
    assert "ACCESS EXCLUSIVE on parent holding t" in f.message, f.message
    assert "on child holding t, parent" in f.message or "on child holding parent, t" in f.message


def test_a_single_finding_keeps_its_own_message(run):
    rev = run('op.add_column("t", sa.Column("x", sa.Text))')
    (f,) = findings(rev, "lock-without-timeout")
    assert f.message.startswith("takes ACCESS EXCLUSIVE on t with no lock_timeout") and f.lines == [f.line]


def test_a_suppressed_line_stays_apart_and_the_rest_is_grouped(run):
    # (a suppression covers its line and the line below: the suppressed statement comes last)
    rev = run('op.add_column("parent", sa.Column("x", sa.Text))\n'
              'op.add_column("child", sa.Column("x", sa.Text))\n'
              'op.add_column("t", sa.Column("x", sa.Text))  # alembic-guard: ignore[lock-without-timeout] quiet')
    found = findings(rev, "lock-without-timeout")
    (quiet,) = [f for f in found if f.suppressed]
    (loud,) = [f for f in found if not f.suppressed]
    assert quiet.table == "t" and quiet.suppressed == "quiet" and quiet.lines == [quiet.line], describe(rev)
    assert loud.table == "parent" and loud.relations == ["child"] and len(loud.lines) == 2
    assert quiet.line not in loud.lines and "on t)" not in loud.message


def test_different_fixes_are_not_merged(run):
    # in a transaction the fix is SET LOCAL, in an autocommit block a session-level SET: two findings
    rev = run('op.add_column("t", sa.Column("x", sa.Text))\n'
              + AUTOCOMMIT + ex("CREATE TRIGGER p_sru BEFORE UPDATE ON parent FOR EACH ROW "
                                "EXECUTE FUNCTION suppress_redundant_updates_trigger()"))
    found = findings(rev, "lock-without-timeout")
    assert len(found) == 2 and {f.table for f in found} == {"t", "parent"}, describe(rev)
    assert all(len(f.lines) == 1 for f in found)


def test_concurrent_index_leftovers_are_grouped_with_every_fix(run):
    rev = run(AUTOCOMMIT + 'op.create_index("t_b", "t", ["b"], postgresql_concurrently=True)\n    '
              + ex("CREATE INDEX CONCURRENTLY IF NOT EXISTS parent_name ON parent (name)"))
    (f,) = findings(rev, "concurrent-index-invalid-leftover")
    assert len(f.lines) == 2 and f.message.startswith("2 concurrent index builds"), describe(rev)
    assert "t_b on t, the retry fails" in f.message and "parent_name on parent, IF NOT EXISTS" in f.message
    assert "DROP INDEX CONCURRENTLY IF EXISTS t_b" in f.fix and "DROP INDEX CONCURRENTLY IF EXISTS parent_name" in f.fix
    assert f.relations == ["parent"]


def test_an_error_is_merged_only_with_the_same_fix(shadow, dbname, tmp_path):
    from alembic_guard.judge import judge
    from helpers import SCHEMA, SEED, run_revisions

    (rev,) = run_revisions(shadow, dbname, tmp_path,
                           [AUTOCOMMIT + 'op.create_index("t_b", "t", ["b"], postgresql_concurrently=True)\n    '
                            + ex("CREATE INDEX CONCURRENTLY parent_name ON parent (name)")], setup=SCHEMA + SEED)
    judge([rev], 180000, severity={"concurrent-index-invalid-leftover": "error"})
    found = findings(rev, "concurrent-index-invalid-leftover")
    assert len(found) == 2 and all(f.severity == "error" for f in found), describe(rev)
