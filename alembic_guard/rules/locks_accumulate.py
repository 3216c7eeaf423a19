from ._common import TABLE_KINDS, failed, is_version_table, where
from .base import PG_DOCS, Rule, register


def _blocking(lk) -> bool:
    return lk.dangerous and lk.preexisting and lk.kind in TABLE_KINDS and not is_version_table(lk.relation)


@register
class LocksAccumulate(Rule):
    id = "locks-accumulate"
    title = "Write-blocking locks on several existing tables accumulated in one transaction"
    severity = "warning"
    docs = PG_DOCS + "explicit-locking.html#LOCKING-TABLES"
    rationale = (
        "Locks are held until the transaction ends. A transaction that already holds a write-blocking "
        "lock on one busy table and then asks for one on another waits for the second with the first "
        "still held: every query on the first table queues behind the slowest query on the second, and "
        "the queue grows on every table it holds. Take one such lock per transaction (one revision or "
        "one autocommit step each), or at least set lock_timeout so the wait, and the queue behind the "
        "locks already held, stays short. Reported when no lock_timeout is in force."
    )
    bad_example = ('op.add_column("orders", sa.Column("note", sa.Text))\n'
                   'op.add_column("customers", sa.Column("note", sa.Text))')
    good_example = ('# one table per transaction, each with a lock timeout\n'
                    'op.execute("SET LOCAL lock_timeout = \'2s\'")\n'
                    'op.add_column("orders", sa.Column("note", sa.Text))\n'
                    '# ... and customers in the next revision')
    group_as = "statements take a write-blocking lock while the transaction already holds others"
    group_tail = ("while one waits, queries on the tables already locked queue behind it, and no lock_timeout "
                  "bounds the wait.")

    def check(self, ctx):
        if failed(ctx) or not ctx.statement.in_transaction:
            return
        # with lock_timeout in force the wait, and so the queue behind the held locks, is bounded
        new = [lk for lk in ctx.obs.new_locks if _blocking(lk) and lk.queued]
        if not new or ctx.obs.lock_timeout_ms:
            return
        new_ids = {id(lk) for lk in ctx.obs.new_locks}
        earlier = {}
        for lk in ctx.statement.own_locks():
            if id(lk) not in new_ids and _blocking(lk):
                earlier.setdefault(lk.oid, lk)
        for lk in new:
            others = [e for oid, e in earlier.items() if oid != lk.oid]
            if not others:
                continue
            held = ", ".join(f"{e.mode} on {e.relation} (from {where(e, ctx)})" for e in others[:3])
            yield self.finding(
                ctx, f"takes {lk.mode} on {lk.relation} while the transaction already holds {held}: while it "
                     f"waits for {lk.relation}, queries on {', '.join(e.relation for e in others[:3])} queue "
                     "behind it, and no lock_timeout bounds the wait.", table=lk.relation,
                fix=self.good_example,
                detail=f"{lk.mode} on {lk.relation} holding {', '.join(e.relation for e in others[:3])}")
