"""DROP TABLE of an existing table → stop using it, drop the foreign keys one at a time, then it.

DROP TABLE destroys the data and breaks any running code that still uses the table. It takes ACCESS
EXCLUSIVE on the table and on every table linked to it by a FOREIGN KEY (the constraint's triggers
live on both sides), so queries on those tables queue behind it — and behind whatever long query
holds them. Dropping each foreign key first, in a short transaction of its own with lock_timeout
and retries, takes those locks one table at a time; the DROP TABLE itself then locks only the table.
Source: PostgreSQL docs, DROP TABLE and "Explicit Locking" (ALTER TABLE … DROP CONSTRAINT of a
foreign key locks both tables).
"""

from __future__ import annotations

from pglast import ast
from pglast.enums import ObjectType

from ..rewrite.plans import PlanStep
from ..rewrite.sqlrewrite import SqlRewrite
from ..sql.parse import quote_ident
from ._columns import foreign_keys, lock_timeout_call, outcome_of, sql_name, statement_nodes
from .base import Example, Recipe, Refusal


def dropped_tables(node) -> list[str]:
    """Qualified names (``public`` elided) of the tables a DROP TABLE drops."""
    if not isinstance(node, ast.DropStmt) or node.removeType != ObjectType.OBJECT_TABLE:
        return []
    out = []
    for obj in node.objects or ():
        parts = [p.sval for p in obj]
        if len(parts) >= 2 and parts[-2] == "public":
            parts = parts[-1:]
        out.append(".".join(parts[-2:]))
    return out


def drop_plan(table: str, facts) -> list[PlanStep]:
    """Deploy code that no longer uses ``table``; then each foreign key on or to it (catalog), then it."""
    fks = foreign_keys(facts, table)
    contract = [lock_timeout_call([f"ALTER TABLE {sql_name(holder)} DROP CONSTRAINT IF EXISTS {quote_ident(name)}"])
                + (f"  # references {target}" if holder == table else f"  # {holder} references {table}")
                for holder, name, target in fks]
    contract.append(lock_timeout_call([f"DROP TABLE IF EXISTS {sql_name(table)}"])
                    + "  # alembic-guard: ignore[drop-table] <release since which no code uses it>")
    return [
        PlanStep(f"deploy: nothing uses {table} any more", "# no migration"),
        PlanStep(f"contract: drop {table}" + (" after its foreign keys, one short transaction each" if fks else ""),
                 "\n".join(contract)),
    ]


class DropTable(Recipe):
    id = "drop-table"
    title = "Drop a table only after the code stopped using it, its foreign keys first"
    rules = ("drop-table",)
    ops = ("drop_table",)
    nodes = (ast.DropStmt,)
    docs = "https://www.postgresql.org/docs/current/sql-droptable.html"
    rationale = __doc__.split("\n\n", 1)[1].rsplit("Source:", 1)[0]
    examples = (
        Example(
            title="a table with a foreign key to another",
            fixed="plan",
            setup=('op.execute("CREATE TABLE customers (id bigint PRIMARY KEY)")\n'
                   'op.execute("CREATE TABLE legacy_orders (id bigint PRIMARY KEY, '
                   'customer_id bigint REFERENCES customers (id))")'),
            bad='op.drop_table("legacy_orders")',
            good=('import alembic_guard.ops  # noqa: F401  (registers op.run_with_lock_timeout & co.)\n'
                  'op.run_with_lock_timeout("ALTER TABLE legacy_orders DROP CONSTRAINT IF EXISTS '
                  'legacy_orders_customer_id_fkey")\n'
                  'op.run_with_lock_timeout("DROP TABLE IF EXISTS legacy_orders")'
                  '  # alembic-guard: ignore[drop-table] unused since release 42')),
    )

    def rewrite_sql(self, node, facts) -> SqlRewrite | None:
        tables = [t for t in dropped_tables(node) if facts.preexisting(t)]
        if not tables:
            return None
        raise Refusal(f"dropping {', '.join(tables)} takes ACCESS EXCLUSIVE on it and on every table linked to it "
                      "by a foreign key, and breaks code that still uses it",
                      [step for t in tables for step in drop_plan(t, facts)])

    def rewrite_op(self, call, facts):
        node = statement_nodes(facts, ast.DropStmt, lambda n: bool(dropped_tables(n)))
        if node is None:
            return None
        return outcome_of(self, node, facts, "drop-table", f"DROP TABLE {', '.join(dropped_tables(node))}")
