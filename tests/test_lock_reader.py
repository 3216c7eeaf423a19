"""The side connection's pg_locks reader (trace/locks.py): an answer asked for with ``send`` is read
by the server between ``send`` and the read that returns it (the tracer sends it after a statement
and reads it after the catalog snapshot, which locks no user relation), never a stale one."""

from __future__ import annotations

import psycopg

from alembic_guard.trace.locks import LockReader


def test_a_sent_read_is_never_stale(shadow, dbname):
    with psycopg.connect(shadow.conninfo(dbname)) as conn:
        conn.execute("CREATE TABLE a (id int)")
        pid = conn.info.backend_pid
        reader = LockReader(shadow.conninfo(dbname))
        try:
            before = reader.relation_locks(pid)
            reader.send(pid)
            assert reader.relation_locks(pid) == before  # nothing changed in between
            reader.send(pid)
            reader.discard()  # an answer nobody reads is dropped, not returned later
            conn.execute("CREATE TABLE b (id int)")
            now = reader.relation_locks(pid)
            assert len(now) == len(before) + 1
            reader.send(pid)
            conn.execute("CREATE TABLE c (id int)")  # read by the server before or after it
            assert now <= reader.relation_locks(pid)
            assert len(reader.relation_locks(pid)) == len(now) + 1  # nothing pending: read afresh
            reader.send(pid)
            assert reader.relation_locks(-1) == set()  # another pid: not the pending answer
            assert len(reader.relation_locks(pid)) == len(now) + 1
        finally:
            reader.close()


def test_lock_codes_round_trip_every_mode():
    """A lock code (trace/locks.py, ``OID * 16 + mode index``) gives back its pair, for each of the
    eight table lock modes and OIDs up to 2^32 - 1."""
    from alembic_guard.locks import MODES
    from alembic_guard.trace.locks import codes_of, decode

    pairs = {(oid, mode) for oid in (1, 16384, 2**32 - 1) for mode in MODES}
    assert decode(codes_of(pairs)) == pairs and len(codes_of(pairs)) == len(pairs)
