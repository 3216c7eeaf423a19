from pglast import ast

from ..sql import range_name
from .base import PG_DOCS, Rule, register
from .recipe_hint import example, hint_for


@register
class CreateIndexNonConcurrent(Rule):
    id = "create-index-non-concurrent"
    title = "CREATE INDEX without CONCURRENTLY on an existing table"
    severity = "error"
    docs = PG_DOCS + "sql-createindex.html#SQL-CREATEINDEX-CONCURRENTLY"
    rationale = (
        "A plain CREATE INDEX takes a SHARE lock on the table for the whole build: every INSERT, "
        "UPDATE and DELETE waits until the index is built (seconds per million rows). "
        "CREATE INDEX CONCURRENTLY takes SHARE UPDATE EXCLUSIVE instead, so reads and writes go on; "
        "it cannot run inside a transaction block, hence Alembic's autocommit_block()."
    )
    bad_example, good_example = example("create-index")

    def check(self, ctx):
        node = ctx.node
        if not isinstance(node, ast.IndexStmt) or node.concurrent:
            return
        table = range_name(node.relation)
        if not ctx.preexisting(table):
            return
        partitioned = ctx.relkind(table) == "p"
        if partitioned and not node.relation.inh:
            # CREATE INDEX … ON ONLY parent: an invalid, empty index, built by nothing (step one of
            # the partition-by-partition recipe in "CREATE INDEX", Notes).
            return
        mode = ctx.strongest_lock(table) or "SHARE"
        from ..recipes.create_index import index_name

        name = index_name(node)
        fix = hint_for(self.id, ctx)
        if partitioned:
            detail = f"partitioned table {table} and every partition of it hold {mode} while each partition builds"
        else:
            detail = f"existing table {table} holds {mode} for the whole build"
        partitions = [lk.relation for lk in ctx.obs.new_locks if lk.kind in ("r", "p") and lk.relation != table]
        yield self.finding(
            ctx, f"CREATE INDEX {name} on {detail}: writes to {table} wait until it finishes.", table=table, fix=fix,
            relations=partitions if partitioned else None)
