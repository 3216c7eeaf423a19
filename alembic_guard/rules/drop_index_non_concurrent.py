from pglast import ast

from ..locks import LOCK_STRENGTH
from ._common import TABLE_KINDS, failed, names_of
from .base import PG_DOCS, Rule, register
from .recipe_hint import example, hint_for


@register
class DropIndexNonConcurrent(Rule):
    id = "drop-index-non-concurrent"
    title = "DROP INDEX without CONCURRENTLY on an existing table"
    severity = "error"
    docs = PG_DOCS + "sql-dropindex.html"
    rationale = (
        "DROP INDEX takes an ACCESS EXCLUSIVE lock on the index's table: every query on the table, "
        "SELECT included, waits, and so does everything queued behind it. The drop itself is instant, "
        "but waiting for the lock behind one long query stalls all traffic. DROP INDEX CONCURRENTLY "
        "waits for running transactions instead of blocking new ones; it cannot run in a transaction "
        "block (autocommit_block) and cannot drop an index that backs a constraint."
    )
    bad_example, good_example = example("drop-index")

    def check(self, ctx):
        node = ctx.node
        if not isinstance(node, ast.DropStmt) or node.concurrent or failed(ctx):
            return
        if getattr(node.removeType, "name", "") != "OBJECT_INDEX":
            return
        fix = hint_for(self.id, ctx)
        for obj in node.objects or ():
            index = names_of(obj)
            if not ctx.preexisting(index):
                continue
            # The index's table: the trace shows the lock DROP INDEX took on it.
            tables = [lk for lk in ctx.obs.new_locks or ctx.statement.own_locks()
                      if lk.kind in TABLE_KINDS and lk.preexisting]
            tables.sort(key=lambda lk: -LOCK_STRENGTH.get(lk.mode, 0))
            table = tables[0].relation if tables else None
            mode = tables[0].mode if tables else "ACCESS EXCLUSIVE"
            on = f" on {table}" if table else ""
            yield self.finding(
                ctx, f"DROP INDEX {index} takes {mode}{on}: every query on {table or 'the table'}, "
                     f"SELECT included, waits for it (and for whatever it queues behind).",
                table=table, fix=fix)
