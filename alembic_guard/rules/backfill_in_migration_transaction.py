from pglast import ast

from ..sql import range_name
from ._common import failed, held_from_before, sql_text, where
from .base import PG_DOCS, Rule, register
from .render import batched_backfill, q


@register
class BackfillInMigrationTransaction(Rule):
    id = "backfill-in-migration-transaction"
    title = "UPDATE/DELETE of an existing table inside the migration transaction"
    severity = "warning"
    docs = PG_DOCS + "explicit-locking.html#LOCKING-ROWS"
    rationale = (
        "An UPDATE or DELETE in the migration's transaction locks every row it touches until COMMIT, "
        "rewrites them in one burst of WAL (replica lag, bloat) and, for a large table, runs for "
        "minutes. Worse, any lock an earlier statement of the same transaction took (ACCESS EXCLUSIVE "
        "from ADD COLUMN, say) is held for the whole backfill, blocking all traffic. Backfill outside "
        "the migration transaction in keyset batches on the primary key (1k-10k rows, one short "
        "transaction each, idempotent predicate). Reported as an error without a WHERE clause, with a "
        "WHERE that only tests the columns being set (a backfill predicate such as `col IS NULL`), or "
        "when a write-blocking lock is already held; a targeted data fix (`WHERE id = 5`) is a warning."
    )
    bad_example = 'op.execute("UPDATE orders SET status = \'new\' WHERE status IS NULL")'
    good_example = batched_backfill("orders", "status", "'new'", where="status IS NULL")

    def check(self, ctx):
        node = ctx.node
        if failed(ctx) or not isinstance(node, (ast.UpdateStmt, ast.DeleteStmt)):
            return
        if not ctx.statement.in_transaction:
            return
        table = range_name(node.relation)
        if not ctx.preexisting(table):
            return
        verb = "UPDATE" if isinstance(node, ast.UpdateStmt) else "DELETE"
        held = held_from_before(ctx)
        reasons = []
        if node.whereClause is None:
            reasons.append("it has no WHERE clause: every row is changed in one transaction")
        elif isinstance(node, ast.UpdateStmt) and _backfill_predicate(node):
            reasons.append(f"its WHERE ({sql_text(node.whereClause)}) only tests the columns it sets: a backfill "
                           "of every row still missing the value, as many as the table has")
        if held:
            lk = held[0]
            reasons.append(f"the transaction already holds {lk.mode} on {lk.relation} (from {where(lk, ctx)}), "
                           f"held for the whole {verb.lower()}")
        severity = "error" if reasons else "warning"
        if not reasons:
            reasons.append("its rows stay locked until the migration commits")
        if isinstance(node, ast.UpdateStmt):
            targets = [t for t in node.targetList or () if isinstance(t, ast.ResTarget)]
            col = targets[0].name if targets else "<column>"
            value = sql_text(targets[0].val) if targets else "<value>"
            cond = sql_text(node.whereClause) if node.whereClause is not None else None
            fix = batched_backfill(table, col, value, where=cond)
        else:
            cond = sql_text(node.whereClause) if node.whereClause is not None else "<condition>"
            fix = ("# delete in keyset batches outside the transaction, one short transaction each:\n"
                   "with op.get_context().autocommit_block():\n"
                   "    while op.get_bind().exec_driver_sql(\n"
                   f"            \"DELETE FROM {q(table)} WHERE id IN (SELECT id FROM {q(table)} WHERE {cond} "
                   "LIMIT 5000)\").rowcount:\n"
                   "        pass")
        yield self.finding(
            ctx, f"{verb} of existing table {table} runs inside the migration transaction: "
                 f"{'; '.join(reasons)}.", table=table, fix=fix, severity=severity)


def _backfill_predicate(node: ast.UpdateStmt) -> bool:
    """True when the WHERE clause mentions only columns the UPDATE sets (``SET x = … WHERE x IS
    NULL``): the classic backfill predicate, which selects every row not done yet, not a few rows."""
    from pglast.visitors import Visitor

    targets = {t.name for t in node.targetList or () if isinstance(t, ast.ResTarget) and t.name}
    seen: set[str] = set()

    class Columns(Visitor):
        def visit_ColumnRef(self, ancestors, ref):
            names = [f.sval for f in ref.fields or () if isinstance(f, ast.String)]
            if names:
                seen.add(names[-1])

    Columns()(node.whereClause)
    return bool(seen) and seen <= targets
