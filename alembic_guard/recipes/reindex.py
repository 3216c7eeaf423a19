"""REINDEX → REINDEX (CONCURRENTLY), outside the migration transaction.

A plain REINDEX holds SHARE on the table (writes wait) and ACCESS EXCLUSIVE on each index it
rebuilds; a query whose plan would use that index waits as well, so reads stall too.
REINDEX (CONCURRENTLY) (PostgreSQL 12+) builds a new copy of each index under SHARE UPDATE EXCLUSIVE
and swaps it in; like CREATE INDEX CONCURRENTLY it cannot run in a transaction block. System
catalogs cannot be reindexed concurrently (REINDEX SYSTEM, a table or index in pg_catalog).
Source: PostgreSQL docs, REINDEX, "Rebuilding Indexes Concurrently".
"""

from __future__ import annotations

from pglast import ast
from pglast.enums import ReindexObjectType

from ..pg_versions import REINDEX_CONCURRENTLY
from ..rewrite.sqlrewrite import SqlRewrite, SqlStep, deparse, parse_all
from ..sql.parse import range_name
from .base import Example, Recipe, Refusal

SYSTEM_SCHEMAS = ("pg_catalog", "pg_toast")


def is_concurrent(node: ast.ReindexStmt) -> bool:
    return any(isinstance(p, ast.DefElem) and p.defname == "concurrently" for p in node.params or ())


def target(node: ast.ReindexStmt) -> str:
    return range_name(node.relation) if node.relation is not None else node.name


def on_system_catalog(node: ast.ReindexStmt, facts) -> bool:
    """REINDEX SYSTEM, or a table/index of pg_catalog / pg_toast: named so, or an unqualified ``pg_``
    name the user's catalog does not hold (the search path finds pg_catalog first)."""
    if node.kind == ReindexObjectType.REINDEX_OBJECT_SYSTEM:
        return True
    rel = node.relation
    if rel is None:
        return False
    if rel.schemaname:
        return rel.schemaname in SYSTEM_SCHEMAS
    user_indexes = {i for t in facts.tables.values() for i in t.indexes}
    return rel.relname.startswith("pg_") and facts.table(rel.relname) is None and rel.relname not in user_indexes


def concurrent_steps(node: ast.ReindexStmt) -> list[SqlStep]:
    """``node`` with the CONCURRENTLY option (changed in place), outside the transaction."""
    if not is_concurrent(node):
        option = parse_all("REINDEX (CONCURRENTLY) INDEX x")[0].params[0]
        node.params = [*(node.params or ()), option]
    return [SqlStep(deparse(node), autocommit=True)]


class Reindex(Recipe):
    id = "reindex"
    title = "Rebuild indexes without blocking writes (and the reads that use them)"
    rules = ("reindex-non-concurrent",)
    nodes = (ast.ReindexStmt,)
    docs = "https://www.postgresql.org/docs/current/sql-reindex.html#SQL-REINDEX-CONCURRENTLY"
    rationale = __doc__.split("\n\n", 1)[1].rsplit("Source:", 1)[0]
    examples = (
        Example(
            title="every index of a table",
            setup=('op.execute("CREATE TABLE orders (id bigint PRIMARY KEY, status text)")\n'
                   'op.execute("CREATE INDEX ix_orders_status ON orders (status)")'),
            bad='op.execute("REINDEX TABLE orders")',
            good=('with op.get_context().autocommit_block():\n'
                  '    op.execute("REINDEX (CONCURRENTLY) TABLE orders")')),
        Example(
            title="one index, schema-qualified, options kept",
            setup=('op.execute("CREATE SCHEMA sales")\n'
                   'op.execute("CREATE TABLE sales.orders (id bigint PRIMARY KEY, status text)")\n'
                   'op.execute("CREATE INDEX ix_orders_status ON sales.orders (status)")'),
            bad='op.execute("REINDEX (VERBOSE) INDEX sales.ix_orders_status")',
            good=('with op.get_context().autocommit_block():\n'
                  '    op.execute("REINDEX (VERBOSE, CONCURRENTLY) INDEX sales.ix_orders_status")')),
    )

    def rewrite_sql(self, node, facts) -> SqlRewrite | None:
        if is_concurrent(node):
            return None
        if not REINDEX_CONCURRENTLY.on(facts.server_version_num):
            raise Refusal(f"REINDEX CONCURRENTLY needs {REINDEX_CONCURRENTLY.label()}; before it, build a new index "
                          "CONCURRENTLY and drop the old one CONCURRENTLY")
        if on_system_catalog(node, facts):
            raise Refusal("system catalogs cannot be reindexed CONCURRENTLY (PostgreSQL refuses it); a catalog "
                          "REINDEX is a maintenance task for a quiet moment, not a schema migration")
        name = target(node)
        return SqlRewrite(what=f"REINDEX {name} → CONCURRENTLY (SHARE UPDATE EXCLUSIVE), outside the transaction",
                          steps=concurrent_steps(node))
