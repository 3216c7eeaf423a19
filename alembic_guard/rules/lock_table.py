from pglast import ast

from ..locks import BLOCKS, BY_NUMBER, WRITE_BLOCKING
from ..sql import range_name
from ._common import failed
from .base import PG_DOCS, Rule, register
from .render import LOCK_TIMEOUT, lines


@register
class LockTable(Rule):
    id = "lock-table"
    title = "Explicit LOCK TABLE in a write-blocking mode"
    severity = "error"
    docs = PG_DOCS + "sql-lock.html"
    rationale = (
        "LOCK TABLE without IN … MODE takes ACCESS EXCLUSIVE, which blocks every query on the table, "
        "SELECT included; SHARE and stronger modes block INSERT, UPDATE and DELETE. The lock is held "
        "until the transaction ends (there is no UNLOCK TABLE), and Alembic runs a revision in one "
        "transaction: everything the revision does after the LOCK runs while the application waits. "
        "While LOCK TABLE itself waits for the lock (behind one long query), every later query on the "
        "table queues behind it. Let each DDL statement take the lock it needs, with lock_timeout set, "
        "or lock in the weakest mode that serves the purpose (ROW EXCLUSIVE, SHARE UPDATE EXCLUSIVE), "
        "and keep the work done under a strong lock minimal."
    )
    bad_example = lines(
        'op.execute("LOCK TABLE orders")',
        'op.add_column("orders", sa.Column("note", sa.Text()))',
        'op.create_check_constraint("orders_total_positive", "orders", "total >= 0", postgresql_not_valid=True)')
    good_example = lines(
        LOCK_TIMEOUT,
        "# each statement takes the lock it needs, and gives up after 2 s instead of stalling traffic",
        'op.add_column("orders", sa.Column("note", sa.Text()))',
        'op.create_check_constraint("orders_total_positive", "orders", "total >= 0", postgresql_not_valid=True)')

    def check(self, ctx):
        node = ctx.node
        if failed(ctx) or not isinstance(node, ast.LockStmt) or not ctx.statement.in_transaction:
            return
        mode = BY_NUMBER.get(node.mode, "ACCESS EXCLUSIVE")
        if mode not in WRITE_BLOCKING:
            return
        timeout = ctx.obs.lock_timeout_ms
        for rv in node.relations or ():
            table = range_name(rv)
            if not ctx.preexisting(table):
                continue
            lock = next((lk for lk in ctx.obs.new_locks if lk.relation == table and lk.mode == mode), None)
            held = ""
            if lock is not None:
                later = max(lock.held_statements - 1, 0)
                held = (f" On the shadow it was held across {later} later statement{'s' * (later != 1)} "
                        f"of the revision ({lock.held_ms:.1f} ms) until COMMIT.")
            wait = (f"lock_timeout ({timeout} ms) bounds only the wait, not the hold" if timeout else
                    "there is no lock_timeout: while it waits for the lock, every later query on "
                    f"{table} queues behind it")
            fix = lines(
                LOCK_TIMEOUT + "  # first statement of upgrade()",
                f"# drop the LOCK TABLE {table}: each DDL statement takes the lock it needs itself;",
                "# if the lock is needed (e.g. lock order), take it right before the statement that needs it,",
                "# keep the work after it minimal (no backfill, no index build), or use a weaker mode:",
                f'op.execute("LOCK TABLE {table} IN SHARE UPDATE EXCLUSIVE MODE")  # blocks DDL only')
            yield self.finding(
                ctx, f"LOCK TABLE {table} takes {mode}, which blocks {BLOCKS[mode]}, until the migration "
                     f"transaction commits; {wait}.{held}", table=table, fix=fix)
