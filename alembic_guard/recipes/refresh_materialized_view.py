"""REFRESH MATERIALIZED VIEW → REFRESH MATERIALIZED VIEW CONCURRENTLY, given a unique index on the view.

A plain REFRESH recomputes the view's query and swaps the result in under ACCESS EXCLUSIVE on the
view: every reader waits for the whole query. CONCURRENTLY takes EXCLUSIVE (reads go on) and applies
the difference row by row, which needs a unique index on the view that uses only column names and
has no WHERE, and a view that is already populated. A view without such an index gets one first,
built CONCURRENTLY in a revision of its own, on the columns that identify a row. REFRESH … WITH NO
DATA only empties the view (instantly) and needs nothing.
Source: PostgreSQL docs, REFRESH MATERIALIZED VIEW ("CONCURRENTLY").
"""

from __future__ import annotations

from pglast import ast

from ..rewrite.plans import PlanStep
from ..rewrite.sqlrewrite import SqlRewrite, SqlStep, deparse, render_steps
from ..sql.parse import range_name
from .base import Example, Recipe, Refusal
from .create_index import LEFTOVER, concurrent_steps, fresh, q


def has_unique_index(name: str, facts) -> bool:
    """The view has a unique index on plain columns without WHERE, by the catalog at the revision's
    start (TableFacts), else by ``facts.matview_has_unique_index``."""
    view = facts.table(name)
    if view is not None:
        return view.has_unique_index_without_where()
    return bool(facts.matview_has_unique_index and facts.matview_has_unique_index(name))


def unique_index_plan(node: ast.RefreshMatViewStmt, facts) -> list[PlanStep]:
    """Revision 1 builds a unique index CONCURRENTLY on the view (the first of its columns proposed,
    all of them listed: only the user knows which identify a row); revision 2 refreshes CONCURRENTLY."""
    name = range_name(node.relation)
    view = facts.table(name)
    columns = list(view.columns) if view and view.columns else []
    key = columns[0] if columns else None
    if key is not None:
        index = fresh(f"CREATE UNIQUE INDEX ON {q(name)} ({q(key)})")
        build = LEFTOVER + "\n" + render_steps(concurrent_steps(index, facts))
        choose = (f"# {key} is a guess: pick the columns that identify one row of {name}\n"
                  "# (a key unique in the view's query, e.g. its GROUP BY columns; the build fails on a duplicate)\n"
                  f"# columns of {name}: " + ", ".join(f"{c} {t}" for c, t in view.columns.items()))
    else:
        build = (f'op.execute("CREATE UNIQUE INDEX CONCURRENTLY <name> ON {q(name)} '
                 f'(<the columns that identify a row>)")')
        choose = f"# (in an autocommit block) on the columns that identify one row of {name}"
    node.concurrent = True
    return [
        PlanStep(f"build a unique index on {name} CONCURRENTLY (no WHERE, plain columns)", choose + "\n" + build),
        PlanStep(f"refresh {name} CONCURRENTLY (EXCLUSIVE: its readers go on)",
                 render_steps([SqlStep(deparse(node))])),
    ]


class RefreshMaterializedView(Recipe):
    id = "refresh-materialized-view"
    title = "Refresh a materialized view without blocking its readers"
    rules = ("refresh-materialized-view-non-concurrent",)
    nodes = (ast.RefreshMatViewStmt,)
    docs = "https://www.postgresql.org/docs/current/sql-refreshmaterializedview.html"
    rationale = __doc__.split("\n\n", 1)[1].rsplit("Source:", 1)[0]
    examples = (
        Example(
            title="a view with a unique index",
            setup=('op.execute("CREATE TABLE orders (id bigint PRIMARY KEY, customer_id bigint, amount numeric)")\n'
                   'op.execute("CREATE MATERIALIZED VIEW order_totals AS '
                   'SELECT customer_id, sum(amount) AS total FROM orders GROUP BY customer_id")\n'
                   'op.execute("CREATE UNIQUE INDEX ux_order_totals_customer_id ON order_totals (customer_id)")'),
            bad='op.execute("REFRESH MATERIALIZED VIEW order_totals")',
            good='op.execute("REFRESH MATERIALIZED VIEW CONCURRENTLY order_totals")'),
        Example(
            title="a view without a unique index: one first, in its own revision",
            setup=('op.execute("CREATE SCHEMA analytics")\n'
                   'op.execute("CREATE TABLE orders (id bigint PRIMARY KEY, customer_id bigint, amount numeric)")\n'
                   'op.execute("CREATE MATERIALIZED VIEW analytics.order_totals AS '
                   'SELECT customer_id, sum(amount) AS total FROM orders GROUP BY customer_id")'),
            bad='op.execute("REFRESH MATERIALIZED VIEW analytics.order_totals")',
            good=('with op.get_context().autocommit_block():\n'
                  '    op.execute("DROP INDEX CONCURRENTLY IF EXISTS analytics.order_totals_customer_id_idx")\n'
                  '    op.execute("CREATE UNIQUE INDEX CONCURRENTLY order_totals_customer_id_idx '
                  'ON analytics.order_totals (customer_id)")\n'
                  '# (the next revision)\n'
                  'op.execute("REFRESH MATERIALIZED VIEW CONCURRENTLY analytics.order_totals")'),
            fixed="plan"),
    )

    def rewrite_sql(self, node, facts) -> SqlRewrite | None:
        if node.concurrent or node.skipData:
            return None  # WITH NO DATA empties the view at once: nothing to do concurrently
        name = range_name(node.relation)
        if not has_unique_index(name, facts):
            raise Refusal(f"REFRESH MATERIALIZED VIEW {name} CONCURRENTLY needs a unique index on the view "
                          "without a WHERE clause, on plain columns; build one first",
                          plan=unique_index_plan(node, facts))
        node.concurrent = True
        return SqlRewrite(what=f"REFRESH MATERIALIZED VIEW {name} → CONCURRENTLY (EXCLUSIVE instead of "
                               "ACCESS EXCLUSIVE: readers of the view go on)", steps=[SqlStep(deparse(node))])
