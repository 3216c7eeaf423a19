"""The trace-first rule for time: a traffic-blocking lock on an existing table held for a long time,
however the time was spent (slow statements, pg_sleep, the revision's own Python code)."""

from ..locks import BLOCKS, TABLE_KINDS
from ._common import failed, is_version_table
from .base import PG_DOCS, Rule, register
from .render import lines

#: ms. DDL on the shadow's near-empty tables takes milliseconds: half a second of holding means the
#: time went elsewhere (a sleep, a loop in Python, a slow function), and on production it is at least as long.
HELD_LONG_MS = 500


#: ms. A statement or a stretch of the revision's Python code shorter than this is ordinary DDL or
#: Alembic's own overhead: many of them add up with the machine's load, not with anything production
#: will do more slowly, so only the slow parts count toward HELD_LONG_MS (the verdict stays the same
#: on a busy CI machine).
SLOW_STATEMENT_MS = 100
SLOW_PYTHON_MS = 20


def hold_in_revision(ctx, lock) -> tuple[float, float, float, bool]:
    """``(held ms, slow statements ms, slow Python ms, held to the end)``: how long the revision held ``lock`` from the
    statement that took it until it was released or the revision ended (its version-table write),
    the hold it would have deployed alone; and the part of it spent in statements of at least
    SLOW_STATEMENT_MS and in stretches of the revision's own Python code (between those statements
    and after the last one) of at least SLOW_PYTHON_MS; whether it was held to the revision's end."""
    rev = ctx.revision
    start = ctx.statement.index
    span = rev.statements[start:start + max(lock.held_statements, 1)]
    durations = [st.observation.duration_ms for st in span]
    gaps = [st.observation.gap_ms for st in span[1:]]
    last = rev.statements[-1]
    to_end = start + lock.held_statements >= len(rev.statements)
    if to_end and last.in_transaction and last.observation.xact == ctx.obs.xact:
        gaps.append(rev.tail_ms)  # still held when Alembic wrote the version row
    return (sum(durations) + sum(gaps), sum(d for d in durations if d >= SLOW_STATEMENT_MS),
            sum(g for g in gaps if g >= SLOW_PYTHON_MS), to_end)


@register
class LockHeldLong(Rule):
    id = "lock-held-long"
    title = "Traffic-blocking lock on an existing table held through half a second or more of slow work"
    severity = "error"
    generic = True
    docs = PG_DOCS + "explicit-locking.html#LOCKING-TABLES"
    rationale = (
        "A lock is held until its transaction ends, not until the statement that took it ends. The "
        "shadow measured how long this revision held a lock that stops the table's traffic (SHARE or "
        "stronger; on a materialized view ACCESS EXCLUSIVE): from the statement that took it to the "
        "revision's end, the statements after it and the revision's own Python code between and after "
        f"them (a sleep, a loop, a call to another service) included. On the shadow's near-empty tables "
        f"DDL takes milliseconds, so when statements of {SLOW_STATEMENT_MS} ms or more and the "
        f"revision's Python code take {HELD_LONG_MS} ms or more of the hold, the time went to work "
        "that does not depend on the table's size, and production will hold it at least as long: every "
        "query that conflicts with the lock waits all that time, and the queue behind it grows. Take "
        "the lock last, right before the transaction commits; do slow work before it, in its own "
        "transaction (an autocommit block), or outside the migration."
    )
    bad_example = lines(
        'op.execute("SET LOCAL lock_timeout = \'2s\'")',
        'op.add_column("orders", sa.Column("note", sa.Text))',
        "time.sleep(5)  # or a slow call, a loop over rows",
    )
    good_example = lines(
        "time.sleep(5)  # the slow part first, holding nothing",
        'op.execute("SET LOCAL lock_timeout = \'2s\'")',
        'op.add_column("orders", sa.Column("note", sa.Text))  # then the lock, right before COMMIT',
    )

    def check(self, ctx):
        if failed(ctx):
            return
        for lk in ctx.obs.new_locks:
            if not (lk.dangerous and lk.preexisting and lk.kind in TABLE_KINDS) or is_version_table(lk.relation):
                continue
            if lk.revision not in ("", ctx.statement.revision):
                continue
            held_ms, slow_ms, python_ms, to_end = hold_in_revision(ctx, lk)
            if slow_ms + python_ms < HELD_LONG_MS:
                continue
            parts = [f"{slow_ms:,.0f} ms in slow statements"] if slow_ms else []
            if python_ms:
                parts.append(f"{python_ms:,.0f} ms in the revision's Python code")
            yield self.finding(
                ctx, f"{lk.mode} on existing table {lk.relation}, taken here, was held for "
                     f"{held_ms:,.0f} ms on the shadow until "
                     f"{'the revision ended' if to_end else 'its transaction committed'} ({', '.join(parts)}): "
                     f"queries on {lk.relation} that conflict with it ({BLOCKS[lk.mode]}) wait that long, and longer "
                     "on production.",
                table=lk.relation,
                fix=lines("# do the slow part first (or in its own transaction: an autocommit block),",
                          "# then take the lock last, right before the transaction commits"))
