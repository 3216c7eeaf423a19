from ._common import TABLE_KINDS, failed, is_version_table
from .base import PG_DOCS, Rule, register
from ..recipes.lock_timeout import advice
from .recipe_hint import example


def _why(ctx, relation: str) -> str:
    """Why an ALTER TABLE locks ``relation``, another table than its own: a foreign key between them
    (dropping one takes ACCESS EXCLUSIVE on the referenced table too, adding one SHARE ROW EXCLUSIVE:
    the FK's triggers live on both tables)."""
    from ..sql import constraint_kind, range_name
    from ._common import table_commands

    cmds = table_commands(ctx, "AT_DropConstraint", "AT_AddConstraint")
    if not cmds or cmds[0][0] == relation:
        return ""
    for _table, cmd in cmds:
        if cmd.subtype.name == "AT_AddConstraint" and constraint_kind(cmd.def_) == "FOREIGN" \
                and range_name(cmd.def_.pktable) == relation:
            return " (the table its new foreign key references)"
        if cmd.subtype.name == "AT_DropConstraint":
            return f" (referenced by the foreign key {cmd.name} it drops)"
    return ""


def _unprotected(st, preexisting) -> list:
    o = st.observation
    if o.lock_timeout_ms:
        return []
    # a lock the transaction's earlier modes already cover cannot queue (Lock.queued)
    return [lk for lk in o.new_locks
            if lk.dangerous and lk.queued and lk.preexisting and lk.kind in TABLE_KINDS
            and not is_version_table(lk.relation)]


@register
class LockWithoutTimeout(Rule):
    id = "lock-without-timeout"
    title = "Write-blocking lock on an existing table without lock_timeout"
    severity = "warning"
    docs = PG_DOCS + "runtime-config-client.html#GUC-LOCK-TIMEOUT"
    rationale = (
        "Even an instant DDL statement (ADD COLUMN with a constant default, CREATE TRIGGER, SET DEFAULT) "
        "must first get its lock. While it waits behind one long-running query, every later query that "
        "conflicts with it queues behind it: a 3 ms ADD COLUMN waiting for a 5 s report holds up "
        "plain SELECTs for 5 s. SET LOCAL lock_timeout (1-2 s) makes the migration give up instead of "
        "stalling traffic; retry it with backoff."
    )
    bad_example, good_example = example("lock-timeout")
    group_as = "statements take write-blocking locks with no lock_timeout"
    group_tail = "while one waits for its lock, every later query on that table queues behind it."

    def check(self, ctx):
        if failed(ctx):
            return
        locks = _unprotected(ctx.statement, ctx.revision.preexisting)
        if not locks:
            return
        earlier = {lk.relation for st in ctx.previous for lk in _unprotected(st, ctx.revision.preexisting)}
        seen = set()
        for lk in locks:
            if lk.relation in earlier or lk.relation in seen:
                continue
            seen.add(lk.relation)
            # one advice for every statement of the revision (recipes/lock_timeout.py), so that they
            # are reported as one finding
            fix = advice(ctx.statement.in_transaction)
            why = _why(ctx, lk.relation)
            yield self.finding(
                ctx, f"takes {lk.mode} on {lk.relation}{why} with no lock_timeout: while it waits for the lock, "
                     f"every later query on {lk.relation} queues behind it.", table=lk.relation, fix=fix,
                detail=f"{lk.mode} on {lk.relation}{why}")
