"""RENAME TABLE on an existing table → rename and an updatable view under the old name.

The rename is instant (a brief ACCESS EXCLUSIVE), but the application version still running uses the
old name and fails until every instance is replaced. In the same short transaction as the rename, a
view with the old name (``CREATE VIEW old AS SELECT * FROM new``) keeps the old code working: a view
over one table with no aggregates is automatically updatable, so its INSERT, UPDATE and DELETE reach
the renamed table. The view is dropped in a later revision, once no running code uses the old name.
Source: PostgreSQL docs, ALTER TABLE (RENAME) and CREATE VIEW, "Updatable Views".
"""

from __future__ import annotations

from pglast import ast
from pglast.enums import ObjectType

from ..rewrite.plans import PlanStep
from ..rewrite.sqlrewrite import SqlRewrite, deparse
from ..sql.parse import quote_ident, range_name
from ._columns import in_schema, lock_timeout_call, outcome_of, sql_name, statement_nodes
from .base import Example, Recipe, Refusal


def table_rename(node) -> bool:
    return isinstance(node, ast.RenameStmt) and node.renameType == ObjectType.OBJECT_TABLE


def bridge_plan(node: ast.RenameStmt) -> list[PlanStep]:
    """Rename + view under the old name in one short transaction, deploy, drop the view."""
    old = range_name(node.relation)
    rel = deparse(node.relation)
    new = sql_name(in_schema(old, node.newname))
    return [
        PlanStep(f"expand: rename {old} to {node.newname} and leave an updatable view named {old}, in one short "
                 "transaction", lock_timeout_call([f"ALTER TABLE {rel} RENAME TO {quote_ident(node.newname)}",
                                                   f"CREATE VIEW {rel} AS SELECT * FROM {new}"])),
        PlanStep(f"deploy: the application uses {node.newname} only", "# no migration"),
        PlanStep(f"contract: drop the view {old} (after every old instance is gone)",
                 lock_timeout_call([f"DROP VIEW IF EXISTS {rel}"])),
    ]


def bridged(node: ast.RenameStmt, later_nodes) -> bool:
    """A later statement of the revision creates the view under the old name (the bridge of the plan)."""
    old = range_name(node.relation)
    return any(isinstance(n, ast.ViewStmt) and range_name(n.view) == old for n in later_nodes)


class RenameTable(Recipe):
    id = "rename-table"
    title = "Rename a table without breaking the code that is still running"
    rules = ("rename-table",)
    ops = ("rename_table",)
    nodes = (ast.RenameStmt,)
    docs = "https://www.postgresql.org/docs/current/sql-createview.html#SQL-CREATEVIEW-UPDATABLE-VIEWS"
    rationale = __doc__.split("\n\n", 1)[1].rsplit("Source:", 1)[0]
    examples = (
        Example(
            title="rename customers to clients behind a view",
            fixed="plan",
            setup='op.execute("CREATE TABLE customers (id bigint PRIMARY KEY, name text)")',
            bad='op.rename_table("customers", "clients")',
            good=('import alembic_guard.ops  # noqa: F401  (registers op.run_with_lock_timeout & co.)\n'
                  'op.run_with_lock_timeout([\n'
                  '    "ALTER TABLE customers RENAME TO clients",\n'
                  '    "CREATE VIEW customers AS SELECT * FROM clients",\n'
                  '])')),
    )

    def rewrite_sql(self, node, facts) -> SqlRewrite | None:
        if not table_rename(node) or not facts.preexisting(range_name(node.relation)):
            return None
        raise Refusal(f"renaming {range_name(node.relation)} breaks every running instance that still uses the "
                      "old name", bridge_plan(node))

    def rewrite_op(self, call, facts):
        node = statement_nodes(facts, ast.RenameStmt, table_rename)
        if node is None:
            return None
        return outcome_of(self, node, facts, "rename-table",
                          f"RENAME TABLE {range_name(node.relation)} → {node.newname}")
