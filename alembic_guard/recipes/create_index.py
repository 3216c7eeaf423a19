"""CREATE INDEX on an existing table → CREATE INDEX CONCURRENTLY, outside the migration transaction.

A plain CREATE INDEX holds SHARE on the table for the whole build: every INSERT, UPDATE and DELETE
waits. CONCURRENTLY takes SHARE UPDATE EXCLUSIVE (reads and writes go on) but cannot run in a
transaction block, and a failed build leaves an INVALID index that a plain retry trips over, so the
safe form drops such a leftover first. A partitioned table cannot be indexed CONCURRENTLY: the index
is created ON ONLY the parent (invalid, empty), built CONCURRENTLY on each partition, and each
partition's index is ATTACHed (the parent's becomes valid with the last one).
Source: PostgreSQL docs, CREATE INDEX, "Building Indexes Concurrently" and Notes on partitioned tables.
"""

from __future__ import annotations

import copy

from pglast import ast

from ..rewrite.opcall import Call
from ..rewrite.outcome import Outcome
from ..rewrite.sqlrewrite import SqlRewrite, SqlStep, deparse, parse_all
from ..rewrite.steps._common import drop_if_true, op_call, qualified, table_of, unquote
from ..sql.parse import range_name
from .base import Example, Hint, Recipe, Refusal

#: op.create_index options → keyword of op.create_index_concurrently
MAPPED = {"postgresql_where": "where", "postgresql_using": "using", "postgresql_include": "include",
          "postgresql_nulls_not_distinct": "nulls_not_distinct"}

LEFTOVER = "# an INVALID leftover of an earlier failed build would block the retry"


def q(name: str) -> str:
    from ..sql import quote_ident

    return ".".join(quote_ident(p) for p in name.split("."))


def drop_leftover_sql(index: str, table: str) -> str:
    """``DROP INDEX CONCURRENTLY IF EXISTS`` of ``index`` in the schema of ``table``."""
    schema = table.split(".", 1)[0] + "." if "." in table else ""
    return f"DROP INDEX CONCURRENTLY IF EXISTS {q(schema + index)}"


def plain_index(node: ast.IndexStmt) -> bool:
    """Only named columns with the default method, opclass, collation and order; no WHERE,
    INCLUDE, options or tablespace: what ``op.create_index([...columns])`` can say."""
    if node.whereClause is not None or node.indexIncludingParams or node.options or node.tableSpace:
        return False
    if node.accessMethod not in (None, "btree") or getattr(node, "nulls_not_distinct", False):
        return False
    for p in node.indexParams or ():
        if not getattr(p, "name", None) or p.expr is not None or p.opclass or p.collation or p.opclassopts:
            return False
        if getattr(p.ordering, "value", 0) or getattr(p.nulls_ordering, "value", 0):
            return False
    return True


def index_name(node: ast.IndexStmt) -> str:
    """The index's name; for an unnamed one the name PostgreSQL would choose for plain columns
    (``<table>_<columns>_idx``), which the hint then spells out so a rerun can find it."""
    if node.idxname:
        return node.idxname
    cols = [p.name for p in node.indexParams or () if getattr(p, "name", None)] or ["expr"]
    return f"{node.relation.relname}_{'_'.join(cols)}_idx"[:63]


def child_index_name(partition: str, node: ast.IndexStmt, facts_of_partition) -> str:
    """The name PostgreSQL gives a partition's index when the parent's is created in one go
    (ChooseIndexName: ``<partition>_<columns>_idx``, ``expr`` for an expression, a number after
    ``idx`` when the name is taken), so the partition-by-partition build ends in the same catalog."""
    from ..ops.create_index_concurrently import _object_name

    labels = [p.name if getattr(p, "name", None) else "expr" for p in node.indexParams or ()]
    addition = "_".join(labels).encode()[:63].decode(errors="ignore")
    taken = set(facts_of_partition.indexes) if facts_of_partition else set()
    for n in range(1000):
        name = _object_name(partition, addition, "idx" if n == 0 else f"idx{n}")
        if name not in taken:
            return name
    return name


def partitions_of(facts, table: str) -> list[str]:
    """The direct partitions of ``table`` the catalog knew when the revision started."""
    return sorted(name for name, t in facts.tables.items() if t.parent == table)


def concurrent_steps(node: ast.IndexStmt, facts) -> list[SqlStep]:
    """The statements of the safe form of ``node`` (changed in place): for a plain table drop an
    INVALID leftover and build CONCURRENTLY; for a partitioned table ON ONLY the parent, then per
    partition CONCURRENTLY + ATTACH (names from the catalog)."""
    table = range_name(node.relation)
    name = index_name(node)
    node.idxname = name
    node.if_not_exists = False
    if facts.relkind(table) != "p":
        node.concurrent = True
        return [SqlStep(drop_leftover_sql(name, table), autocommit=True), SqlStep(deparse(node), autocommit=True)]
    parent = copy.deepcopy(node)
    parent.relation.inh = False  # ON ONLY
    parent.concurrent = False
    parent.if_not_exists = True
    steps = [SqlStep(deparse(parent))]
    schema = table.split(".", 1)[0] + "." if "." in table else ""
    for part in partitions_of(facts, table):
        child = copy.deepcopy(node)
        part_name, _, part_schema = part.rpartition(".")[::-1]
        child.relation = ast.RangeVar(relname=part_name if part_schema else part, schemaname=part_schema or None,
                                      inh=True, relpersistence="p")
        child.idxname = child_index_name(part.split(".")[-1], node, facts.table(part))
        child.concurrent = True
        steps.append(SqlStep(drop_leftover_sql(child.idxname, part), autocommit=True))
        steps.append(SqlStep(deparse(child), autocommit=True))
        steps.append(SqlStep(f"ALTER INDEX {q(schema + name)} ATTACH PARTITION "
                             f"{q((part_schema + '.' if part_schema else '') + child.idxname)}"))
    return steps


class CreateIndex(Recipe):
    id = "create-index"
    title = "Build an index on an existing table without blocking writes"
    rules = ("create-index-non-concurrent",)
    ops = ("create_index",)
    nodes = (ast.IndexStmt,)
    final = True
    docs = "https://www.postgresql.org/docs/current/sql-createindex.html#SQL-CREATEINDEX-CONCURRENTLY"
    rationale = __doc__.split("\n\n", 1)[1].rsplit("Source:", 1)[0]
    examples = (
        Example(
            title="a plain column index",
            setup='op.execute("CREATE TABLE orders (id bigint PRIMARY KEY, customer_id bigint, status text)")',
            bad='op.create_index("ix_orders_customer_id", "orders", ["customer_id"])',
            good=('with op.get_context().autocommit_block():\n'
                  '    op.execute("DROP INDEX CONCURRENTLY IF EXISTS ix_orders_customer_id")\n'
                  '    op.create_index("ix_orders_customer_id", "orders", ["customer_id"],\n'
                  '                    postgresql_concurrently=True)')),
        Example(
            title="a unique partial expression index in raw SQL (every part survives)",
            setup='op.execute("CREATE TABLE users (id bigint PRIMARY KEY, email text, deleted_at timestamptz)")',
            bad='op.execute("CREATE UNIQUE INDEX ux_users_email ON users (lower(email)) WHERE deleted_at IS NULL")',
            good=('with op.get_context().autocommit_block():\n'
                  '    op.execute("DROP INDEX CONCURRENTLY IF EXISTS ux_users_email")\n'
                  '    op.execute("CREATE UNIQUE INDEX CONCURRENTLY ux_users_email ON users (lower(email)) '
                  'WHERE deleted_at IS NULL")')),
        Example(
            title="a partitioned table: ON ONLY, each partition CONCURRENTLY, ATTACH",
            setup=('op.execute("CREATE TABLE events (id bigint, at date NOT NULL, kind text) '
                   'PARTITION BY RANGE (at)")\n'
                   'op.execute("CREATE TABLE events_2026 PARTITION OF events '
                   'FOR VALUES FROM (\'2026-01-01\') TO (\'2027-01-01\')")'),
            bad='op.create_index("ix_events_kind", "events", ["kind"], postgresql_where=sa.text("kind IS NOT NULL"))',
            good=('import alembic_guard.ops  # noqa: F401  (registers op.create_index_concurrently & co.)\n'
                  'op.create_index_concurrently("ix_events_kind", "events", ["kind"],\n'
                  '                             where=sa.text("kind IS NOT NULL"))')),
    )

    def rewrite_sql(self, node, facts) -> SqlRewrite | None:
        if node.concurrent:
            return None
        if not node.idxname:
            raise Refusal("the CREATE INDEX has no name: name the index so that a rerun can find and drop an "
                          "INVALID leftover")
        table = range_name(node.relation)
        if not node.relation.inh:
            return None  # ON ONLY builds nothing: step one of the partitioned recipe
        partitioned = facts.relkind(table) == "p"
        steps = concurrent_steps(node, facts)
        how = ("ON ONLY the parent, CONCURRENTLY per partition, ATTACH" if partitioned else
               "CONCURRENTLY, outside the transaction (an INVALID leftover of an interrupted run is dropped first)")
        return SqlRewrite(what=f"CREATE INDEX {node.idxname} on {table} → {how}", steps=steps)

    def hint(self, node, facts) -> Hint | None:
        """A plain column index as ``op.create_index(..., postgresql_concurrently=True)``; anything
        else (expressions, WHERE, INCLUDE, opclass, method, a partitioned table) as the statement
        itself deparsed, so nothing of it is lost."""
        from ..rewrite.sqlrewrite import render_steps

        node = copy.deepcopy(node)
        table = range_name(node.relation)
        if plain_index(node) and facts.relkind(table) != "p":
            name = index_name(node)
            cols = [p.name for p in node.indexParams]
            flag = ", unique=True" if node.unique else ""
            from ..rules.render import autocommit_block, execute

            schema, _, bare = table.rpartition(".")
            in_schema = f", schema={schema!r}" if schema else ""  # a keyword: after the columns
            return Hint(code=autocommit_block(
                LEFTOVER, execute(drop_leftover_sql(name, table)),
                f"op.create_index({name!r}, {bare!r}, {cols!r}{flag}{in_schema},\n"
                f"                postgresql_concurrently=True)"))
        steps = concurrent_steps(node, facts)
        return Hint(code=LEFTOVER + "\n" + render_steps(steps))

    def rewrite_op(self, call: Call, facts) -> Outcome | None:
        # Already CONCURRENTLY (fix only looks at calls outside autocommit blocks): it fails inside the
        # migration transaction, so it is rewritten whatever the table; the op leaves the transaction.
        in_transaction = bool(call.get("postgresql_concurrently"))
        table, schema = table_of(call)
        if table is None or not (in_transaction or facts.preexisting(qualified(table, schema))):
            return None
        name = call.src("index_name")
        if name in (None, "None"):
            return Outcome("create-index-concurrently", "CREATE INDEX without a name",
                           refused="the index has no name; name it so that a rerun can find an INVALID leftover")
        unknown = [k for k in call.kwargs if k not in MAPPED and k != "postgresql_concurrently"]
        if unknown:
            return Outcome("create-index-concurrently", f"CREATE INDEX {call.get('index_name')}",
                           refused=f"options {', '.join(unknown)} have no equivalent in op.create_index_concurrently")
        extra = {MAPPED[k]: v.source for k, v in call.kwargs.items() if k in MAPPED}
        code = op_call("create_index_concurrently", name, call.src("table_name"), call.src("columns"),
                       schema=call.src("schema"), unique=drop_if_true(call.src("unique")), **extra)
        partitioned = facts.relkind(qualified(table, schema)) == "p"
        what = (f"CREATE INDEX {unquote(name)} on {table} → op.create_index_concurrently "
                + ("(ON ONLY the parent, CONCURRENTLY per partition, ATTACH)" if partitioned else
                   "(SHARE UPDATE EXCLUSIVE: writes go on; an INVALID leftover is rebuilt)"))
        return Outcome("create-index-concurrently", what, code=code)


def fresh(sql: str):
    """A fresh pglast node of one statement (the recipes change the trees they get)."""
    nodes = parse_all(sql)
    return nodes[0] if nodes and len(nodes) == 1 else None
