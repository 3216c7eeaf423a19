from pglast import ast

from ._common import TABLE_KINDS, failed, is_version_table, names_of
from .base import PG_DOCS, Rule, register
from .recipe_hint import example, hint_for


@register
class DropTable(Rule):
    id = "drop-table"
    title = "DROP TABLE of an existing table"
    severity = "error"
    docs = PG_DOCS + "sql-droptable.html"
    rationale = (
        "DROP TABLE destroys the data and breaks any running code that still uses the table. It takes "
        "ACCESS EXCLUSIVE on the table and also on every table it references by FOREIGN KEY (to remove "
        "the FK triggers), so queries on those tables wait too. Stop using the table first, drop its "
        "foreign keys one by one with lock_timeout, then drop it in a later release."
    )
    bad_example, good_example = example("drop-table")

    def check(self, ctx):
        node = ctx.node
        if failed(ctx):
            return
        if ctx.statement.coverage == "trace-only":
            # a DO block or function call: the trace saw which existing tables are gone
            for table in ctx.obs.dropped:
                if table in ctx.revision.tables and ctx.preexisting(table) and not is_version_table(table):
                    yield self.finding(
                        ctx, f"the statement ({ctx.statement.coverage_reason}: judged by trace only) drops "
                             f"existing table {table}: its data is destroyed and code still using it breaks.",
                        table=table)
            return
        if not isinstance(node, ast.DropStmt) or node.removeType.name != "OBJECT_TABLE":
            return
        dropped = [names_of(o) for o in node.objects or ()]
        for table in dropped:
            if not ctx.preexisting(table):
                continue
            others = sorted({lk.relation for lk in ctx.obs.new_locks
                             if lk.kind in TABLE_KINDS and lk.preexisting and lk.mode == "ACCESS EXCLUSIVE"
                             and lk.relation not in dropped and not is_version_table(lk.relation)})
            also = f"; it also takes ACCESS EXCLUSIVE on {', '.join(others)} (referenced by its foreign keys)" \
                if others else ""
            fix = hint_for(self.id, ctx)
            yield self.finding(
                ctx, f"DROP TABLE {table} destroys its data and breaks code still using it{also}.",
                table=table, fix=fix)
