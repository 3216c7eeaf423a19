from pglast import ast

from ..sql import range_name
from ._common import failed
from .base import PG_DOCS, Rule, register
from .render import autocommit_block, execute, q


@register
class RefreshMaterializedViewNonConcurrent(Rule):
    id = "refresh-materialized-view-non-concurrent"
    title = "REFRESH MATERIALIZED VIEW without CONCURRENTLY"
    severity = "error"
    docs = PG_DOCS + "sql-refreshmaterializedview.html"
    rationale = (
        "REFRESH MATERIALIZED VIEW recomputes the query and replaces the view's contents under ACCESS "
        "EXCLUSIVE: every reader of the view waits for the whole query. REFRESH … CONCURRENTLY takes "
        "EXCLUSIVE instead, so reads go on; it needs a unique index (without WHERE) on the view."
    )
    bad_example = 'op.execute("REFRESH MATERIALIZED VIEW order_totals")'
    good_example = lines_example = (
        '# needs a unique index on the view, e.g. CREATE UNIQUE INDEX ON order_totals (customer_id)\n'
        'op.execute("REFRESH MATERIALIZED VIEW CONCURRENTLY order_totals")')

    def check(self, ctx):
        node = ctx.node
        if failed(ctx) or not isinstance(node, ast.RefreshMatViewStmt) or node.concurrent:
            return
        view = range_name(node.relation)
        if not ctx.preexisting(view):
            return
        fix = (f"# needs a unique index without WHERE on {view}\n"
               + execute(f"REFRESH MATERIALIZED VIEW CONCURRENTLY {q(view)}"))
        yield self.finding(
            ctx, f"REFRESH MATERIALIZED VIEW {view} takes ACCESS EXCLUSIVE on it: every query reading {view} "
                 f"waits for the whole refresh.", table=view, fix=fix)


del autocommit_block
