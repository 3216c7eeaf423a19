"""VACUUM FULL / CLUSTER → not in a migration: pg_repack outside it (REPACK (CONCURRENTLY) on PostgreSQL 19+).

VACUUM FULL and CLUSTER copy the whole table and rebuild all its indexes under ACCESS EXCLUSIVE:
every query, SELECT included, waits for the full copy, and no form of either is online, so there is
nothing to rewrite. Usually neither is needed: plain VACUUM (SHARE UPDATE EXCLUSIVE, reads and
writes go on) and autovacuum make dead rows reusable; only giving space back to the operating
system, or ordering the rows by an index, needs a rewrite. pg_repack does that rewrite online
(a copy kept in sync by triggers, ACCESS EXCLUSIVE only for the swap); PostgreSQL 19 has it built
in as REPACK (CONCURRENTLY).
Source: PostgreSQL docs, VACUUM ("FULL"), CLUSTER, REPACK (PostgreSQL 19); pg_repack documentation.
"""

from __future__ import annotations

import copy

from pglast import ast

from ..pg_versions import REPACK_CONCURRENTLY
from ..rewrite.plans import PlanStep
from ..rewrite.sqlrewrite import SqlStep, deparse, parse_all, render_steps
from ..sql.parse import range_name
from .base import Example, Recipe, Refusal
from .create_index import q

def is_full(node) -> bool:
    return isinstance(node, ast.VacuumStmt) and node.is_vacuumcmd and \
        any(getattr(o, "defname", "") == "full" for o in node.options or ())


def tables_of(node) -> list[str]:
    if isinstance(node, ast.ClusterStmt):
        return [range_name(node.relation)] if node.relation else []
    return [range_name(r.relation) for r in node.rels or () if getattr(r, "relation", None)]


def with_schema(table: str) -> str:
    return table if "." in table else f"public.{table}"


def index_order(facts, table: str, index: str | None) -> str | None:
    """The ORDER BY list of ``index`` (pg_get_indexdef of the catalog): what pg_repack --order-by takes."""
    t = facts.table(table)
    definition = t.indexes.get(index) if t and index else None
    node = parse_all(definition)[0] if definition else None
    if not isinstance(node, ast.IndexStmt):
        return None
    parts = []
    for p in node.indexParams or ():
        col = q(p.name) if p.name else deparse(p.expr)
        desc = " DESC" if getattr(p.ordering, "name", "") == "SORTBY_DESC" else ""
        parts.append(col + desc)
    return ", ".join(parts)


def plain_vacuum(node, tables: list[str]) -> str:
    """The plain VACUUM (ANALYZE) of the same tables, in an autocommit block."""
    if isinstance(node, ast.VacuumStmt):
        plain = copy.deepcopy(node)
        plain.options = [o for o in plain.options or () if getattr(o, "defname", "") != "full"] or None
        sql = deparse(plain)
    else:
        sql = deparse(parse_all(f"VACUUM (ANALYZE) {', '.join(q(t) for t in tables)}")[0])
    return render_steps([SqlStep(sql, autocommit=True)])


def repack_plan(node, facts) -> list[PlanStep]:
    tables = tables_of(node)
    cluster = isinstance(node, ast.ClusterStmt)
    index = node.indexname if cluster else None
    plan = [PlanStep("usually not needed: plain VACUUM (SHARE UPDATE EXCLUSIVE, reads and writes go on) and "
                     "autovacuum make dead rows reusable; a rewrite only returns space to the operating system"
                     + (" or orders the rows" if cluster else ""),
                     plain_vacuum(node, tables) if tables else "# autovacuum (or VACUUM in an autocommit block)")]
    if tables:
        order = index_order(facts, tables[0], index) if cluster else None
        # without --order-by pg_repack orders by the table's clustered index (CLUSTER without USING)
        how = (f"--order-by='{order}'" if order else "") if cluster else "--no-order"
        cmd = "pg_repack " + " ".join(f"--table={with_schema(t)}" for t in tables) + (f" {how}" if how else "")
        code = [f"# {cmd}"]
        keyless = [t for t in tables if facts.table(t) is not None and not facts.primary_key(t)]
        if keyless:
            code.append(f"# (pg_repack needs a primary key or a unique index on NOT NULL columns: "
                        f"{', '.join(keyless)} has no primary key)")
    else:
        code = ["# pg_repack --dbname=<database> --no-order    (every table of the database)"]
    plan.append(PlanStep("if the table must be rewritten: pg_repack online, outside the migrations "
                         "(the pg_repack extension on the server; ACCESS EXCLUSIVE only for the final swap)",
                         "\n".join(code)))
    if tables and REPACK_CONCURRENTLY.on(facts.server_version_num):
        using = f" USING INDEX {q(index)}" if index else (" USING INDEX" if cluster else "")
        plan.append(PlanStep("or, on PostgreSQL 19+, REPACK (CONCURRENTLY) (see the REPACK page for what it needs)",
                             render_steps([SqlStep(f"REPACK (CONCURRENTLY) {q(t)}{using}", autocommit=True)
                                           for t in tables])))
    return plan


class VacuumFullOrCluster(Recipe):
    id = "vacuum-full-or-cluster"
    title = "Reclaim space or reorder a table without blocking it (not in a migration)"
    rules = ("vacuum-full-or-cluster",)
    nodes = (ast.VacuumStmt, ast.ClusterStmt)
    docs = "https://www.postgresql.org/docs/current/sql-vacuum.html"
    rationale = __doc__.split("\n\n", 1)[1].rsplit("Source:", 1)[0]
    examples = (
        Example(
            title="CLUSTER on an index: pg_repack --order-by with the index's columns",
            setup=('op.execute("CREATE TABLE orders (id bigint PRIMARY KEY, created_at timestamptz, status text)")\n'
                   'op.execute("CREATE INDEX ix_orders_created_at ON orders (created_at DESC)")'),
            bad='op.execute("CLUSTER orders USING ix_orders_created_at")',
            good=('# usually enough: a plain VACUUM (SHARE UPDATE EXCLUSIVE), or nothing (autovacuum)\n'
                  'with op.get_context().autocommit_block():\n'
                  '    op.execute("VACUUM (ANALYZE) orders")\n'
                  "# a rewrite, online and outside the migrations: "
                  "pg_repack --table=public.orders --order-by='created_at DESC'"),
            fixed="plan"),
    )

    def rewrite_sql(self, node, facts):
        if isinstance(node, ast.VacuumStmt) and not is_full(node):
            return None
        what = "CLUSTER" if isinstance(node, ast.ClusterStmt) else "VACUUM FULL"
        target = ", ".join(tables_of(node)) or "every table of the database"
        raise Refusal(f"{what} rewrites {target} and all its indexes under ACCESS EXCLUSIVE; it has no online "
                      "form: not in a migration", plan=repack_plan(node, facts))
