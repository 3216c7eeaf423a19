from pglast import ast

from ..sql import range_name, subtype
from ._common import names_of
from .base import PG_DOCS, Rule, register
from .render import autocommit_block, concurrent_index, execute

NOT_IN_TRANSACTION = "25001"  # active_sql_transaction: "cannot run inside a transaction block"


def concurrent_what(node) -> str | None:
    """What kind of CONCURRENTLY statement ``node`` is (None when it is not one)."""
    if isinstance(node, ast.IndexStmt) and node.concurrent:
        return "CREATE INDEX CONCURRENTLY"
    if isinstance(node, ast.DropStmt) and node.concurrent:
        return "DROP INDEX CONCURRENTLY"
    if isinstance(node, ast.ReindexStmt) and any(
            getattr(p, "defname", "") == "concurrently" for p in (node.params or ())):
        return "REINDEX CONCURRENTLY"
    if isinstance(node, ast.AlterTableStmt):
        for cmd in node.cmds or ():
            if subtype(cmd) == "AT_DetachPartition" and getattr(cmd.def_, "concurrent", False):
                return "DETACH PARTITION CONCURRENTLY"
    return None


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
    bad_example = 'op.create_index("ix_orders_customer_id", "orders", ["customer_id"],\n' \
                  '                postgresql_concurrently=True)'
    good_example = concurrent_index("ix_orders_customer_id", "orders", ["customer_id"])

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
        fix = autocommit_block(execute(ctx.sql.rstrip(";")) if "\n" not in ctx.sql
                               else f"op.execute({ctx.sql.rstrip(';')!r})")
        yield self.finding(
            ctx, f"{what} runs inside the migration's transaction block; PostgreSQL refuses it "
                 f"(\"cannot run inside a transaction block\") and the revision fails. "
                 f"Run it in op.get_context().autocommit_block().", table=table, fix=fix)
