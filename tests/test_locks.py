"""Pin the lock vocabulary (alembic_guard/locks.py) on a real server: the conflict table (docs "Explicit
Locking", Table 13.2), the pg_locks names, the LOCKMODE numbers pglast gives LOCK TABLE, and the rules
derived from them (write-blocking set, covered_by, materialized views)."""

from __future__ import annotations

import itertools

import psycopg
import pytest
from pglast import ast, parse_sql

from alembic_guard import locks
from alembic_guard.locks import CONFLICTS, MODES


@pytest.fixture
def sessions(shadow, dbname):
    """Two sessions on one database with a table ``t``: the holder and the requester."""
    info = shadow.conninfo(dbname)
    with psycopg.connect(info, autocommit=True) as setup:
        setup.execute("CREATE TABLE t (id int)")
    with psycopg.connect(info) as holder, psycopg.connect(info) as requester:
        yield holder, requester


def conflicts_on_server(holder, requester, held: str, wanted: str) -> bool:
    """Does ``LOCK TABLE t IN <wanted> MODE NOWAIT`` fail (55P03) while the holder holds ``held``?"""
    holder.execute(f"LOCK TABLE t IN {held} MODE")
    try:
        requester.execute(f"LOCK TABLE t IN {wanted} MODE NOWAIT")
        return False
    except psycopg.errors.LockNotAvailable:
        return True
    finally:
        requester.rollback()
        holder.rollback()


def test_conflict_table_matches_the_server(sessions):
    holder, requester = sessions
    observed = {(h, w): conflicts_on_server(holder, requester, h, w) for h, w in itertools.product(MODES, MODES)}
    expected = {(h, w): w in CONFLICTS[h] for h, w in itertools.product(MODES, MODES)}
    wrong = sorted(pair for pair in observed if observed[pair] != expected[pair])
    assert not wrong, f"held, requested pairs where locks.CONFLICTS disagrees with the server: {wrong}"


def test_conflicts_are_symmetric():
    assert all((b in CONFLICTS[a]) == (a in CONFLICTS[b]) for a in MODES for b in MODES)


def test_pg_locks_names(sessions):
    holder, _ = sessions
    for mode in MODES:
        holder.execute(f"LOCK TABLE t IN {mode} MODE")
        seen = {locks.docs_name(m) for (m,) in holder.execute(
            "SELECT mode FROM pg_locks WHERE locktype = 'relation' AND relation = 't'::regclass "
            "AND pid = pg_backend_pid()")}
        holder.rollback()
        assert seen == {mode}


@pytest.mark.parametrize("mode", MODES)
def test_lock_stmt_numbers(mode):
    node = parse_sql(f"LOCK TABLE t IN {mode} MODE")[0].stmt
    assert isinstance(node, ast.LockStmt) and locks.BY_NUMBER[node.mode] == mode
    assert locks.BY_NUMBER[parse_sql("LOCK TABLE t")[0].stmt.mode] == "ACCESS EXCLUSIVE"


def test_write_blocking_is_share_and_stronger(sessions):
    """The modes an INSERT (ROW EXCLUSIVE) waits for, seen on the server."""
    holder, requester = sessions
    waits = {m for m in MODES if conflicts_on_server(holder, requester, m, "ROW EXCLUSIVE")}
    assert waits == locks.WRITE_BLOCKING == {"SHARE", "SHARE ROW EXCLUSIVE", "EXCLUSIVE", "ACCESS EXCLUSIVE"}
    assert [m for m in MODES if locks.LOCK_STRENGTH[m] >= locks.LOCK_STRENGTH["SHARE"]] == \
        sorted(locks.WRITE_BLOCKING, key=locks.LOCK_STRENGTH.get)


def test_covered_by():
    assert locks.covered_by("SHARE", {"SHARE"})
    assert locks.covered_by("ROW EXCLUSIVE", {"ACCESS EXCLUSIVE"})  # AEL conflicts with everything
    assert locks.covered_by("SHARE", {"SHARE ROW EXCLUSIVE"})
    assert not locks.covered_by("ACCESS EXCLUSIVE", {"SHARE"})  # ACCESS SHARE readers can still be there
    assert not locks.covered_by("SHARE", {"ROW EXCLUSIVE"})
    assert not locks.covered_by("SHARE", set())


def test_covered_by_on_the_server(sessions):
    """When covered_by says a request cannot wait, no mode another session can hold next to ours
    blocks it: for each held mode and request, try every mode a third party could hold."""
    holder, requester = sessions
    for held, wanted in itertools.product(MODES, MODES):
        if not locks.covered_by(wanted, {held}):
            continue
        for other in MODES:
            if other in CONFLICTS[held]:
                continue  # the other session could not hold it beside us
            assert wanted not in CONFLICTS[other], (held, wanted, other)
    # and one pair checked end to end: holding SHARE ROW EXCLUSIVE, SHARE is granted even while a third
    # session holds ROW SHARE (the strongest mode compatible with ours)
    holder.execute("LOCK TABLE t IN SHARE ROW EXCLUSIVE MODE")
    holder.execute("LOCK TABLE t IN SHARE MODE NOWAIT")
    holder.rollback()
    requester.execute("LOCK TABLE t IN ROW SHARE MODE")
    holder.execute("LOCK TABLE t IN SHARE ROW EXCLUSIVE MODE NOWAIT")
    holder.execute("LOCK TABLE t IN SHARE MODE NOWAIT")
    holder.rollback()
    requester.rollback()


def test_materialized_view_rule(shadow, dbname):
    """On a materialized view only ACCESS EXCLUSIVE stops readers: REFRESH … CONCURRENTLY (EXCLUSIVE)
    lets a SELECT through."""
    assert locks.blocks_traffic("EXCLUSIVE", "r") and not locks.blocks_traffic("EXCLUSIVE", "m")
    assert not locks.blocks_traffic("SHARE", "m") and locks.blocks_traffic("ACCESS EXCLUSIVE", "m")
    info = shadow.conninfo(dbname)
    with psycopg.connect(info, autocommit=True) as setup:
        setup.execute("CREATE MATERIALIZED VIEW mv AS SELECT 1 AS id")
        setup.execute("CREATE UNIQUE INDEX ON mv (id)")
    # LOCK TABLE refuses a materialized view: take the locks the way migrations do, with REFRESH
    with psycopg.connect(info) as holder, psycopg.connect(info) as reader:
        for refresh, mode in (("REFRESH MATERIALIZED VIEW CONCURRENTLY mv", "EXCLUSIVE"),
                              ("REFRESH MATERIALIZED VIEW mv", "ACCESS EXCLUSIVE")):
            holder.execute(refresh)
            held = {locks.docs_name(m) for (m,) in holder.execute(
                "SELECT mode FROM pg_locks WHERE relation = 'mv'::regclass AND pid = pg_backend_pid()")}
            assert locks.strongest(held) == mode
            try:
                reader.execute("SET lock_timeout = '50ms'")
                reader.execute("SELECT * FROM mv").fetchall()
                blocked = False
            except psycopg.errors.LockNotAvailable:
                blocked = True
            reader.rollback()
            holder.rollback()
            assert blocked == locks.blocks_traffic(mode, "m"), mode
