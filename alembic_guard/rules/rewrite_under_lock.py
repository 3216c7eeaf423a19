from ._common import failed, table_lock
from .base import PG_DOCS, Rule, register


@register
class RewriteUnderLock(Rule):
    id = "rewrite-under-lock"
    title = "Statement that rewrites an existing table or index under its lock"
    severity = "error"
    docs = PG_DOCS + "sql-altertable.html#SQL-ALTERTABLE-NOTES"
    rationale = (
        "The shadow saw this statement give an existing table or index a new file "
        "(pg_class.relfilenode changed): PostgreSQL copied every row while holding the lock the trace "
        "shows, usually ACCESS EXCLUSIVE, so queries wait for the whole rewrite. This generic rule "
        "reports rewrites no specific rule explains; find an online alternative (expand/contract, "
        "a concurrent variant, or a batched copy)."
    )
    bad_example = 'op.execute("ALTER TABLE orders ALTER COLUMN note SET DATA TYPE varchar(50)")'
    good_example = "# expand/contract: new column or table, batched copy, swap in one short transaction"

    def check(self, ctx):
        if failed(ctx):
            return
        rewritten = [r for r in ctx.obs.rewritten if ctx.preexisting(r)]
        if not rewritten:
            return
        main = next((r for r in rewritten if any(lk.relation == r and lk.kind in ("r", "p", "m")
                                                 for lk in ctx.statement.own_locks())), rewritten[0])
        yield self.finding(
            ctx, f"rewrote {', '.join(rewritten)} under {table_lock(ctx, main)} on {main}: queries wait "
                 f"for the whole rewrite.", table=main, fix=self.good_example)
