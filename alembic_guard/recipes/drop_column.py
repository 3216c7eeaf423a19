"""DROP COLUMN on an existing table → stop using it, deploy, then drop its indexes CONCURRENTLY and it.

DROP COLUMN only marks the column dropped in the catalog, under a brief ACCESS EXCLUSIVE, but every
query of the running application that names it (or an ORM that selects every mapped column) fails
from that moment, and the data is gone. Contract in steps: a release whose code no longer reads or
writes the column, then a revision that drops the indexes on it with DROP INDEX CONCURRENTLY (no
ACCESS EXCLUSIVE on the table for each of them) and the column with lock_timeout.
Source: PostgreSQL docs, ALTER TABLE (DROP COLUMN) and DROP INDEX (CONCURRENTLY).
"""

from __future__ import annotations

from pglast import ast
from pglast.enums import AlterTableType

from ..rewrite.plans import PlanStep
from ..rewrite.sqlrewrite import SqlRewrite, deparse
from ..sql.parse import quote_ident, range_name
from ._columns import (autocommit, in_schema, indexes_on, lock_timeout_call, outcome_of, per_command_hint, sql_name,
                       statement_nodes)
from .base import Example, Recipe, Refusal


def dropped_column(node) -> ast.AlterTableCmd | None:
    if not isinstance(node, ast.AlterTableStmt):
        return None
    return next((c for c in node.cmds or () if isinstance(c, ast.AlterTableCmd)
                 and c.subtype == AlterTableType.AT_DropColumn), None)


def drop_plan(node: ast.AlterTableStmt, cmd: ast.AlterTableCmd, facts) -> list[PlanStep]:
    """Deploy code that no longer uses the column; then its indexes (catalog) CONCURRENTLY, then it."""
    table = range_name(node.relation)
    rel = deparse(node.relation)
    col = cmd.name
    tf = facts.table(table)
    # an index that backs a constraint (primary key, unique) cannot be dropped on its own: it goes
    # with the column, under the same brief lock
    indexes = [name for name, _ in indexes_on(facts, table, col) if not (tf and name in tf.constraints)]
    contract = []
    if indexes:
        contract.append(autocommit([f"DROP INDEX CONCURRENTLY IF EXISTS {sql_name(in_schema(table, n))}"
                                    for n in indexes]))
    contract.append(lock_timeout_call([f"ALTER TABLE {rel} DROP COLUMN IF EXISTS {quote_ident(col)}"])
                    + "  # alembic-guard: ignore[drop-column] <release since which no code uses it>")
    return [
        PlanStep(f"deploy: the application no longer reads or writes {table}.{col} "
                 "(SQLAlchemy: remove it from the model first)", "# no migration"),
        PlanStep(f"contract: drop {col}" + (f" ({', '.join(indexes)} CONCURRENTLY first)" if indexes else ""),
                 "\n".join(contract)),
    ]


class DropColumn(Recipe):
    id = "drop-column"
    title = "Drop a column only after the code stopped using it"
    rules = ("drop-column",)
    ops = ("drop_column",)
    nodes = (ast.AlterTableStmt,)
    docs = "https://www.postgresql.org/docs/current/sql-altertable.html#SQL-ALTERTABLE-DESC-DROP-COLUMN"
    rationale = __doc__.split("\n\n", 1)[1].rsplit("Source:", 1)[0]
    examples = (
        Example(
            title="an indexed column",
            fixed="plan",
            setup=('op.execute("CREATE TABLE orders (id bigint PRIMARY KEY, note text)")\n'
                   'op.execute("CREATE INDEX ix_orders_note ON orders (note)")'),
            bad='op.drop_column("orders", "note")',
            good=('import alembic_guard.ops  # noqa: F401  (registers op.run_with_lock_timeout & co.)\n'
                  'with op.get_context().autocommit_block():\n'
                  '    op.execute("DROP INDEX CONCURRENTLY IF EXISTS ix_orders_note")\n'
                  'op.run_with_lock_timeout("ALTER TABLE orders DROP COLUMN IF EXISTS note")'
                  '  # alembic-guard: ignore[drop-column] unused since release 42')),
    )

    def hint(self, node, facts):
        return per_command_hint(self, node, facts)

    def rewrite_sql(self, node, facts) -> SqlRewrite | None:
        cmd = dropped_column(node)
        if cmd is None or not facts.preexisting(range_name(node.relation)):
            return None
        raise Refusal(f"dropping a column breaks running code that still uses it ({range_name(node.relation)}."
                      f"{cmd.name}); drop it after a deploy that stopped using it", drop_plan(node, cmd, facts))

    def rewrite_op(self, call, facts):
        node = statement_nodes(facts, ast.AlterTableStmt, lambda n: dropped_column(n) is not None)
        if node is None:
            return None
        return outcome_of(self, node, facts, "drop-column",
                          f"DROP COLUMN {range_name(node.relation)}.{dropped_column(node).name}")
