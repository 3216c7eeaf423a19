"""ALTER SEQUENCE (and anything else that takes SHARE ROW EXCLUSIVE or stronger on a sequence) blocks
nextval(), so the INSERTs of every table whose serial / identity / DEFAULT nextval() column draws
from it, until COMMIT; without lock_timeout the lock queue makes that a stall."""

from ..locks import WRITE_BLOCKING
from ._common import failed, table_commands
from .base import PG_DOCS, Rule, register
from .render import LOCK_TIMEOUT, lines

SEQUENCE = "S"  # pg_class.relkind


def _blocking_sequence_locks(ctx):
    """Locks this statement took on sequences that existed before the revision and that conflict
    with ROW EXCLUSIVE, the lock nextval() takes (locks.WRITE_BLOCKING)."""
    dropped = set(ctx.obs.dropped_oids)  # a sequence dropped with its table (DROP TABLE): drop-table's case
    return [lk for lk in ctx.obs.new_locks
            if lk.kind == SEQUENCE and lk.preexisting and lk.queued and lk.mode in WRITE_BLOCKING
            and lk.oid not in dropped and lk.relation not in ctx.obs.dropped]


@register
class AlterSequenceBlocksInserts(Rule):
    id = "alter-sequence-blocks-inserts"
    title = "ALTER SEQUENCE without lock_timeout: nextval(), and so INSERTs, wait"
    severity = "warning"
    docs = PG_DOCS + "sql-altersequence.html"
    rationale = (
        "ALTER SEQUENCE (AS bigint, RESTART, INCREMENT, CACHE…) takes SHARE ROW EXCLUSIVE on the "
        "sequence (ALTER SEQUENCE … RENAME: ACCESS EXCLUSIVE) until the transaction commits; nextval() "
        "needs ROW EXCLUSIVE on it (\"Explicit Locking\": the two conflict), so every INSERT that draws "
        "a value from it (serial, identity, DEFAULT nextval(...)) waits, while reads go on. The statement "
        "itself is instant (a sequence has one row), but it first waits for every open transaction that "
        "called nextval() on it, and while it waits every INSERT queues behind it. Run it with "
        "SET LOCAL lock_timeout (and a retry), in a short transaction of its own; setval() takes only "
        "ROW EXCLUSIVE and blocks nothing. Measured on PostgreSQL 18; the same modes since 10."
    )
    bad_example = 'op.execute("ALTER SEQUENCE orders_id_seq AS bigint")'
    good_example = lines(LOCK_TIMEOUT, 'op.execute("ALTER SEQUENCE orders_id_seq AS bigint")')
    group_as = "statements lock a sequence against nextval() with no lock_timeout"
    group_tail = "while one waits for its lock, every INSERT that draws from that sequence queues behind it."

    def check(self, ctx):
        if failed(ctx) or ctx.obs.lock_timeout_ms:
            return
        locks = _blocking_sequence_locks(ctx)
        if not locks:
            return
        # an ALTER TABLE … ALTER COLUMN … SET GENERATED / RESTART also takes ACCESS EXCLUSIVE on the
        # table: lock-without-timeout reports that lock, which covers the sequence's
        tables = {t for t, _ in table_commands(ctx)}
        if tables and any(lk.relation in tables and lk.mode in WRITE_BLOCKING for lk in ctx.obs.new_locks):
            return
        for lk in {lk.relation: lk for lk in locks}.values():
            yield self.finding(
                ctx, f"takes {lk.mode} on sequence {lk.relation} with no lock_timeout: nextval('{lk.relation}') "
                     f"waits until COMMIT, so INSERTs into every table whose column draws from it wait too, "
                     f"and while it waits for the lock they queue behind it.", table=lk.relation,
                fix=lines(LOCK_TIMEOUT, f"op.execute({ctx.sql!r})") if "\n" not in ctx.sql else LOCK_TIMEOUT,
                detail=f"{lk.mode} on {lk.relation}")
