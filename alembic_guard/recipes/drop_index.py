"""DROP INDEX on an existing table → DROP INDEX CONCURRENTLY IF EXISTS, outside the migration transaction.

A plain DROP INDEX takes ACCESS EXCLUSIVE on the index's table: the drop is instant, but waiting for
that lock behind one long query stalls every later query on the table, SELECT included.
CONCURRENTLY waits for the transactions using the index instead of blocking new ones; it cannot run
in a transaction block, drops one index per statement, and has no CASCADE (what depends on the
index, a foreign key referencing its columns, is dropped first, on its own). An index of a
partitioned table cannot be dropped concurrently at all: a plain DROP under lock_timeout, instant.
Source: PostgreSQL docs, DROP INDEX ("CONCURRENTLY", "CASCADE").
"""

from __future__ import annotations

import copy

from pglast import ast
from pglast.enums import DropBehavior, ObjectType

from ..rewrite.opcall import Call
from ..rewrite.outcome import Outcome
from ..rewrite.plans import PlanStep
from ..rewrite.sqlrewrite import SqlRewrite, SqlStep, deparse, parse_all, render_steps
from ..rewrite.steps._common import op_call, pystr, qualified, table_of, unquote
from ..sql.parse import range_name
from .base import Example, Hint, Recipe, Refusal


def drop_one(node: ast.DropStmt, i: int, *, concurrent: bool = True) -> str:
    """The ``i``-th index of a DROP INDEX as a statement of its own: ``IF EXISTS`` (a rerun finds it
    gone), CONCURRENTLY, no CASCADE; the tree is changed and deparsed, the name kept as written."""
    one = copy.deepcopy(node)
    one.objects = (one.objects[i],)
    one.concurrent = concurrent
    one.missing_ok = True
    one.behavior = DropBehavior.DROP_RESTRICT
    return deparse(one)


def drop_steps(node: ast.DropStmt) -> list[SqlStep]:
    """``DROP INDEX CONCURRENTLY IF EXISTS`` of each index of ``node``, outside the transaction."""
    return [SqlStep(drop_one(node, i), autocommit=True) for i in range(len(node.objects))]


def index_drop(node) -> bool:
    return isinstance(node, ast.DropStmt) and node.removeType == ObjectType.OBJECT_INDEX


def index_table(facts, parts: list[str]) -> str | None:
    """The table (qualified name) of the index ``parts`` ([schema,] name) in the catalog at the
    revision's start; an unqualified name is looked for in public first."""
    name, schema = parts[-1], (parts[-2] if len(parts) > 1 else None)
    hits = [t for t, f in facts.tables.items() if name in f.indexes
            and (schema is None or (t.split(".", 1)[0] if "." in t else "public") == schema)]
    hits.sort(key=lambda t: "." in t)
    return hits[0] if hits else None


def dependent_foreign_keys(facts, table: str, index: str) -> list[tuple[str, str]]:
    """``(table, constraint)`` of the foreign keys that reference exactly the columns of ``index`` of
    ``table``: what ``DROP INDEX … CASCADE`` drops with it (read from pg_get_constraintdef)."""
    tf = facts.table(table)
    idx = parse_all(tf.indexes[index])[0] if tf and index in tf.indexes else None
    if not isinstance(idx, ast.IndexStmt):
        return []
    cols = {p.name for p in idx.indexParams or ()}
    out = []
    for other, f in sorted(facts.tables.items()):
        for con, definition in sorted(f.constraints.items()):
            parsed = parse_all(f"ALTER TABLE x ADD CONSTRAINT c {definition}")
            cmd = parsed[0].cmds[0].def_ if parsed else None
            if not (isinstance(cmd, ast.Constraint) and cmd.pktable is not None):
                continue
            if range_name(cmd.pktable) == table and {a.sval for a in cmd.pk_attrs or ()} == cols:
                out.append((other, con))
    return out


def _q(table: str) -> str:
    from ..sql import quote_ident

    return ".".join(quote_ident(p) for p in table.split("."))


def cascade_plan(node, facts) -> list[PlanStep]:
    """What CASCADE would drop (the foreign keys on the index's columns) dropped first, one at a
    time under lock_timeout; then the index CONCURRENTLY."""
    fks = []
    for obj in node.objects:
        parts = [s.sval for s in obj]
        table = index_table(facts, parts)
        fks += dependent_foreign_keys(facts, table, parts[-1]) if table else []
    names = ", ".join(".".join(s.sval for s in obj) for obj in node.objects)
    if fks:
        first = PlanStep(
            f"drop what CASCADE would drop, the foreign keys on the columns of {names}, one at a time "
            "(ACCESS EXCLUSIVE on both tables for an instant, under lock_timeout with retries)",
            "\n".join(op_call("run_with_lock_timeout", pystr(f"ALTER TABLE {_q(t)} DROP CONSTRAINT IF EXISTS {_q(c)}"))
                      for t, c in fks))
    else:
        first = PlanStep(f"nothing in the catalog depends on {names}: drop CASCADE (not needed)", "# no migration")
    return [first, PlanStep(f"drop {names} CONCURRENTLY, outside the transaction", render_steps(drop_steps(node)))]


class DropIndex(Recipe):
    id = "drop-index"
    title = "Drop an index of an existing table without blocking its queries"
    rules = ("drop-index-non-concurrent",)
    ops = ("drop_index",)
    nodes = (ast.DropStmt,)
    final = True
    docs = "https://www.postgresql.org/docs/current/sql-dropindex.html"
    rationale = __doc__.split("\n\n", 1)[1].rsplit("Source:", 1)[0]
    examples = (
        Example(
            title="op.drop_index",
            setup=('op.execute("CREATE TABLE orders (id bigint PRIMARY KEY, status text)")\n'
                   'op.execute("CREATE INDEX ix_orders_status ON orders (status)")'),
            bad='op.drop_index("ix_orders_status", table_name="orders")',
            good=('with op.get_context().autocommit_block():\n'
                  '    op.drop_index("ix_orders_status", table_name="orders",\n'
                  '                  postgresql_concurrently=True, if_exists=True)')),
        Example(
            title="raw SQL on a schema-qualified index",
            setup=('op.execute("CREATE SCHEMA sales")\n'
                   'op.execute("CREATE TABLE sales.orders (id bigint PRIMARY KEY, status text)")\n'
                   'op.execute("CREATE INDEX ix_orders_status ON sales.orders (status)")'),
            bad='op.execute("DROP INDEX sales.ix_orders_status")',
            good=('with op.get_context().autocommit_block():\n'
                  '    op.execute("DROP INDEX CONCURRENTLY IF EXISTS sales.ix_orders_status")')),
        Example(
            title="CASCADE: the foreign key that depends on the index first, then the index CONCURRENTLY",
            setup=('op.execute("CREATE TABLE customers (id bigint PRIMARY KEY, email text)")\n'
                   'op.execute("CREATE UNIQUE INDEX ux_customers_email ON customers (email)")\n'
                   'op.execute("CREATE TABLE orders (id bigint PRIMARY KEY, '
                   'customer_email text REFERENCES customers (email))")'),
            bad='op.execute("DROP INDEX ux_customers_email CASCADE")',
            good=('import alembic_guard.ops  # noqa: F401  (registers op.run_with_lock_timeout & co.)\n'
                  'op.run_with_lock_timeout(\n'
                  '    "ALTER TABLE orders DROP CONSTRAINT IF EXISTS orders_customer_email_fkey")\n'
                  'with op.get_context().autocommit_block():\n'
                  '    op.execute("DROP INDEX CONCURRENTLY IF EXISTS ux_customers_email")'),
            fixed="plan"),
    )

    def rewrite_sql(self, node, facts) -> SqlRewrite | None:
        if not index_drop(node) or node.concurrent:
            return None
        if node.behavior == DropBehavior.DROP_CASCADE:
            raise Refusal("DROP INDEX … CASCADE cannot run CONCURRENTLY: drop what depends on the index first",
                          plan=cascade_plan(node, facts))
        names = []
        for i, obj in enumerate(node.objects):
            parts = [s.sval for s in obj]
            table = index_table(facts, parts)
            if table and facts.relkind(table) == "p":
                raise Refusal(f"{'.'.join(parts)} is an index of the partitioned table {table}: it cannot be "
                              "dropped CONCURRENTLY", plan=[PlanStep(
                                  "drop it with a plain DROP INDEX (ACCESS EXCLUSIVE on the table and its "
                                  "partitions, instant) under lock_timeout with retries",
                                  op_call("run_with_lock_timeout", pystr(drop_one(node, i, concurrent=False))))])
            names.append(".".join(parts))
        return SqlRewrite(what=f"DROP INDEX {', '.join(names)} → CONCURRENTLY IF EXISTS, outside the transaction",
                          steps=drop_steps(node))

    def hint(self, node, facts) -> Hint | None:
        """One index whose table the catalog knows: ``op.drop_index(..., postgresql_concurrently=True,
        if_exists=True)`` in an autocommit block; otherwise the raw-SQL rewrite (or its plan)."""
        if index_drop(node) and len(node.objects or ()) == 1 and node.behavior != DropBehavior.DROP_CASCADE:
            parts = [s.sval for s in node.objects[0]]
            table = index_table(facts, parts)
            if table and facts.relkind(table) != "p":
                from ..rules.render import autocommit_block, table_kw

                return Hint(code=autocommit_block(
                    f"op.drop_index({parts[-1]!r}, {table_kw(table)},\n"
                    f"              postgresql_concurrently=True, if_exists=True)"))
        return super().hint(node, facts)

    def rewrite_op(self, call: Call, facts) -> Outcome | None:
        # Already CONCURRENTLY (fix only looks at calls outside autocommit blocks): it fails inside the
        # migration transaction, so it is rewritten whatever the table; the op leaves the transaction.
        in_transaction = bool(call.get("postgresql_concurrently"))
        table, schema = table_of(call)
        if table is not None and not in_transaction and not facts.preexisting(qualified(table, schema)):
            return None
        if table and facts.relkind(qualified(table, schema)) == "p":
            return Outcome("drop-index-concurrently", f"DROP INDEX {call.get('index_name')}",
                           refused="an index of a partitioned table cannot be dropped concurrently")
        code = op_call("drop_index_concurrently", call.src("index_name"), table_name=call.src("table_name"),
                       schema=call.src("schema"))
        return Outcome("drop-index-concurrently",
                       f"DROP INDEX {unquote(call.src('index_name'))} → op.drop_index_concurrently "
                       f"(no ACCESS EXCLUSIVE on {table or 'the table'})", code=code)
