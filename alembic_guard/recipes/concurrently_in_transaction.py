"""A CONCURRENTLY statement inside the migration transaction → the same statement in an autocommit block.

CREATE INDEX CONCURRENTLY, DROP INDEX CONCURRENTLY, REINDEX (CONCURRENTLY) and DETACH PARTITION …
CONCURRENTLY (like VACUUM) commit between their phases, so PostgreSQL refuses them inside a
transaction block (SQLSTATE 25001, "cannot run inside a transaction block") and the revision fails:
it cannot run at all as written. The safe form is the statement's own recipe (create-index,
drop-index, reindex) run outside the transaction, in ``op.get_context().autocommit_block()``: for an
index build that includes dropping an INVALID leftover of an earlier failed attempt first, since a
build interrupted outside a transaction leaves one behind.
Source: PostgreSQL docs, CREATE INDEX ("Building Indexes Concurrently"), DROP INDEX, REINDEX, VACUUM.
"""

from __future__ import annotations

import copy

from pglast import ast

from ..rewrite.sqlrewrite import SqlRewrite, SqlStep, deparse
from ..sql.parse import subtype
from .base import Example, Hint, Recipe

#: the recipe that writes the safe form of a statement kind (as if written without CONCURRENTLY)
OWN_RECIPE = {ast.IndexStmt: "create-index", ast.DropStmt: "drop-index", ast.ReindexStmt: "reindex"}


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


def plain_vacuum(node) -> bool:
    """VACUUM without FULL (VACUUM FULL has no online form: the vacuum-full-or-cluster recipe)."""
    return isinstance(node, ast.VacuumStmt) and node.is_vacuumcmd and \
        not any(getattr(o, "defname", "") == "full" for o in node.options or ())


def without_concurrently(node):
    """A copy of ``node`` as written without CONCURRENTLY, for the statement's own recipe."""
    plain = copy.deepcopy(node)
    if isinstance(plain, ast.ReindexStmt):
        plain.params = [p for p in plain.params or () if getattr(p, "defname", "") != "concurrently"] or None
    else:
        plain.concurrent = False
    return plain


class ConcurrentlyInTransaction(Recipe):
    id = "concurrently-in-transaction"
    title = "Run a CONCURRENTLY statement outside the migration transaction"
    rules = ("concurrently-in-transaction",)
    # op.create_index / op.drop_index(..., postgresql_concurrently=True) are rewritten by create-index
    # and drop-index (rewrite_op); this recipe writes the raw SQL forms.
    nodes = (ast.IndexStmt, ast.DropStmt, ast.ReindexStmt, ast.AlterTableStmt, ast.VacuumStmt)
    docs = "https://www.postgresql.org/docs/current/sql-createindex.html#SQL-CREATEINDEX-CONCURRENTLY"
    rationale = __doc__.split("\n\n", 1)[1].rsplit("Source:", 1)[0]
    examples = (
        Example(
            title="raw CREATE INDEX CONCURRENTLY inside the transaction",
            setup='op.execute("CREATE TABLE orders (id bigint PRIMARY KEY, customer_id bigint)")',
            bad='op.execute("CREATE INDEX CONCURRENTLY ix_orders_customer_id ON orders (customer_id)")',
            good=('with op.get_context().autocommit_block():\n'
                  '    op.execute("DROP INDEX CONCURRENTLY IF EXISTS ix_orders_customer_id")\n'
                  '    op.execute("CREATE INDEX CONCURRENTLY ix_orders_customer_id ON orders (customer_id)")')),
        Example(
            title="op.create_index(..., postgresql_concurrently=True) inside the transaction",
            setup='op.execute("CREATE TABLE orders (id bigint PRIMARY KEY, customer_id bigint)")',
            bad=('op.create_index("ix_orders_customer_id", "orders", ["customer_id"],\n'
                 '                postgresql_concurrently=True)'),
            good=('with op.get_context().autocommit_block():\n'
                  '    op.execute("DROP INDEX CONCURRENTLY IF EXISTS ix_orders_customer_id")\n'
                  '    op.create_index("ix_orders_customer_id", "orders", ["customer_id"],\n'
                  '                    postgresql_concurrently=True)')),
        Example(
            title="raw DROP INDEX CONCURRENTLY of a schema-qualified index inside the transaction",
            setup=('op.execute("CREATE SCHEMA sales")\n'
                   'op.execute("CREATE TABLE sales.orders (id bigint PRIMARY KEY, status text)")\n'
                   'op.execute("CREATE INDEX ix_orders_status ON sales.orders (status)")'),
            bad='op.execute("DROP INDEX CONCURRENTLY sales.ix_orders_status")',
            good=('with op.get_context().autocommit_block():\n'
                  '    op.execute("DROP INDEX CONCURRENTLY IF EXISTS sales.ix_orders_status")')),
    )

    def rewrite_sql(self, node, facts) -> SqlRewrite | None:
        """The statement's own recipe's safe form (which runs outside the transaction); a DETACH …
        CONCURRENTLY or a plain VACUUM as it is, in an autocommit block. Raises Refusal (the own
        recipe's: an unnamed index, CASCADE, a system catalog)."""
        from . import recipe

        what = concurrent_what(node)
        if what is None and not plain_vacuum(node):
            return None
        own = OWN_RECIPE.get(type(node))
        if own is not None:
            rw = recipe(own).rewrite_sql(without_concurrently(node), facts)
            if rw is not None:
                return SqlRewrite(what=f"{what} inside the transaction → {rw.what}", steps=rw.steps)
        return SqlRewrite(what=f"{what or 'VACUUM'} → outside the transaction (autocommit block)",
                          steps=[SqlStep(deparse(node), autocommit=True)])

    def hint(self, node, facts) -> Hint | None:
        """The statement's own recipe's hint (``op.create_index(..., postgresql_concurrently=True)``
        after the leftover drop, ``op.drop_index(...)``); VACUUM FULL: its plan; any other statement
        PostgreSQL refused in the transaction: itself in an autocommit block."""
        from ..rewrite.sqlrewrite import render_steps
        from . import recipe

        own = OWN_RECIPE.get(type(node)) if concurrent_what(node) else None
        hint = recipe(own).hint(without_concurrently(node), facts) if own else None
        if hint is None and isinstance(node, ast.VacuumStmt) and not plain_vacuum(node):
            hint = recipe("vacuum-full-or-cluster").hint(node, facts)
        if hint is None:
            hint = super().hint(node, facts)
        return hint or Hint(code=render_steps([SqlStep(deparse(node), autocommit=True)]))
