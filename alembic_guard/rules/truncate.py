from pglast import ast

from ..sql import range_name
from ._common import failed
from .base import PG_DOCS, Rule, register


@register
class Truncate(Rule):
    id = "truncate"
    title = "TRUNCATE in a migration"
    severity = "error"
    docs = PG_DOCS + "sql-truncate.html"
    rationale = (
        "TRUNCATE deletes every row (CASCADE: of every referencing table too) by giving the table a new "
        "empty file, under ACCESS EXCLUSIVE. In a schema migration that is data loss in production, "
        "where the table is not the empty one of the development database. Data changes belong in "
        "a reviewed, batched data migration, not in a schema revision."
    )
    bad_example = 'op.execute("TRUNCATE orders")'
    good_example = "# no schema migration should empty a production table; delete in reviewed batches if needed"

    def check(self, ctx):
        node = ctx.node
        if failed(ctx) or not isinstance(node, ast.TruncateStmt):
            return
        tables = [range_name(r) for r in node.relations or ()]
        hit = [t for t in tables if ctx.preexisting(t)]
        if not hit:
            return
        cascade = " (CASCADE also empties every table referencing it)" if node.behavior.name == "DROP_CASCADE" else ""
        yield self.finding(
            ctx, f"TRUNCATE {', '.join(hit)} deletes every row{cascade} under ACCESS EXCLUSIVE: data loss in "
                 f"production.", table=hit[0], fix=self.good_example)
