from pglast import ast

from ..recipes.concurrently_in_transaction import concurrent_what
from ..sql import range_name
from ._common import names_of
from .base import PG_DOCS, Rule, register
from .recipe_hint import example, hint_for
from .render import autocommit_block

NOT_IN_TRANSACTION = "25001"  # active_sql_transaction: "cannot run inside a transaction block"


@register
class ConcurrentlyInTransaction(Rule):
    id = "concurrently-in-transaction"
    title = "CONCURRENTLY (or VACUUM) inside a transaction block"
    severity = "error"
    docs = PG_DOCS + "sql-createindex.html#SQL-CREATEINDEX-CONCURRENTLY"
    rationale = (
        "CREATE INDEX CONCURRENTLY, DROP INDEX CONCURRENTLY, REINDEX CONCURRENTLY and "
        "ALTER TABLE … DETACH PARTITION … CONCURRENTLY (like VACUUM) commit internally between their "
        "phases, so PostgreSQL refuses to run them inside a transaction block (SQLSTATE 25001, "
        "\"cannot run inside a transaction block\"). Alembic runs each revision in a transaction, so "
        "the revision fails in production. Run the statement in "
        "op.get_context().autocommit_block(), in a revision of its own or at the end of one."
    )
    bad_example, good_example = example("concurrently-in-transaction")

    def check(self, ctx):
        node = ctx.node
        what = concurrent_what(node)
        refused = ctx.obs.sqlstate == NOT_IN_TRANSACTION
        if what is None and not refused:
            return
        if what is None and isinstance(node, ast.VacuumStmt):
            what = "VACUUM"
        if not (ctx.statement.in_transaction or refused):
            return
        what = what or ctx.sql.split(None, 2)[0].upper()
        table = None
        if isinstance(node, (ast.IndexStmt, ast.ReindexStmt)):
            table = range_name(node.relation)
        elif isinstance(node, ast.AlterTableStmt):
            table = range_name(node.relation)
        elif isinstance(node, ast.DropStmt) and node.objects:
            table = names_of(node.objects[0])
        # (a statement pglast cannot read, e.g. with driver parameters, is moved as written)
        fix = hint_for(self.id, ctx) or autocommit_block(f"op.execute({ctx.sql.strip().rstrip(';')!r})")
        yield self.finding(
            ctx, f"{what} runs inside the migration's transaction block; PostgreSQL refuses it "
                 f"(\"cannot run inside a transaction block\") and the revision fails. "
                 f"Run it in op.get_context().autocommit_block().", table=table, fix=fix)
