from pglast import ast

from ..pg_versions import REINDEX_CONCURRENTLY
from ..sql import range_name
from ._common import failed
from .base import PG_DOCS, Rule, register
from .recipe_hint import example, hint_for


@register
class ReindexNonConcurrent(Rule):
    id = "reindex-non-concurrent"
    title = "REINDEX without CONCURRENTLY"
    severity = "error"
    docs = PG_DOCS + "sql-reindex.html#SQL-REINDEX-CONCURRENTLY"
    features = (REINDEX_CONCURRENTLY,)
    rationale = (
        "REINDEX takes SHARE on the table (writes wait) and ACCESS EXCLUSIVE on each index it rebuilds, "
        "and queries whose plan uses such an index wait as well, so in practice reads stall too. "
        "REINDEX … CONCURRENTLY (PostgreSQL 12+) rebuilds under SHARE UPDATE EXCLUSIVE; it cannot run "
        "inside a transaction block."
    )
    bad_example, good_example = example("reindex")

    def check(self, ctx):
        node = ctx.node
        if failed(ctx) or not isinstance(node, ast.ReindexStmt):
            return
        if any(getattr(p, "defname", "") == "concurrently" for p in node.params or ()):
            return
        kind = node.kind.name.replace("REINDEX_OBJECT_", "")
        target = range_name(node.relation) if node.relation is not None else node.name
        if node.relation is not None and not ctx.preexisting(target):
            return
        if kind in ("SYSTEM",):
            return
        fix = hint_for(self.id, ctx)
        yield self.finding(
            ctx, f"REINDEX {kind} {target} rebuilds under SHARE on the table and ACCESS EXCLUSIVE on each "
                 f"index: writes, and reads that use the indexes, wait for the rebuild.",
            table=target if kind == "TABLE" else None, fix=fix)
