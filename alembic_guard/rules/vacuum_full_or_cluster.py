from pglast import ast

from ..pg_versions import REPACK_CONCURRENTLY
from ..sql import range_name
from .base import PG_DOCS, Rule, register
from .recipe_hint import example, hint_for


@register
class VacuumFullOrCluster(Rule):
    id = "vacuum-full-or-cluster"
    title = "VACUUM FULL or CLUSTER in a migration"
    severity = "error"
    docs = PG_DOCS + "sql-vacuum.html"
    features = (REPACK_CONCURRENTLY,)
    rationale = (
        "VACUUM FULL and CLUSTER rewrite the whole table and all its indexes under ACCESS EXCLUSIVE: "
        "every query, SELECT included, waits for the full copy. Use pg_repack or pg_squeeze, which "
        "rebuild online, and leave plain VACUUM / ANALYZE (SHARE UPDATE EXCLUSIVE) to autovacuum."
    )
    bad_example, good_example = example("vacuum-full-or-cluster")

    def check(self, ctx):
        node = ctx.node
        if isinstance(node, ast.VacuumStmt) and node.is_vacuumcmd:
            if not any(getattr(o, "defname", "") == "full" for o in node.options or ()):
                return
            what = "VACUUM FULL"
            tables = [range_name(r.relation) for r in node.rels or () if getattr(r, "relation", None)]
        elif isinstance(node, ast.ClusterStmt):
            what = "CLUSTER"
            tables = [range_name(node.relation)] if node.relation else []
        else:
            return
        if tables and not any(ctx.preexisting(t) for t in tables):
            return
        target = ", ".join(tables) if tables else "every table of the database"
        first = tables[0] if tables else None
        yield self.finding(
            ctx, f"{what} rewrites {target} and its indexes under ACCESS EXCLUSIVE: every query waits for the "
                 f"whole copy.", table=first,
            fix=hint_for(self.id, ctx))
