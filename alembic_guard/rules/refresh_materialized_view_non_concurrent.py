from pglast import ast

from ..sql import range_name
from ._common import failed
from .base import PG_DOCS, Rule, register
from .recipe_hint import example, hint_for


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
    bad_example, good_example = example("refresh-materialized-view")

    def check(self, ctx):
        node = ctx.node
        if failed(ctx) or not isinstance(node, ast.RefreshMatViewStmt) or node.concurrent:
            return
        if node.skipData:
            return  # WITH NO DATA only empties the view, at once: no query runs under the lock
        view = range_name(node.relation)
        if not ctx.preexisting(view):
            return
        yield self.finding(
            ctx, f"REFRESH MATERIALIZED VIEW {view} takes ACCESS EXCLUSIVE on it: every query reading {view} "
                 f"waits for the whole refresh.", table=view, fix=hint_for(self.id, ctx))
