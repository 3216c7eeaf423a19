"""ADD UNIQUE on an existing table → unique index built CONCURRENTLY, then ADD CONSTRAINT … UNIQUE USING INDEX.

ADD CONSTRAINT … UNIQUE (and ADD COLUMN … UNIQUE) builds its unique index while holding ACCESS
EXCLUSIVE on the table: every query waits for the whole build. CREATE UNIQUE INDEX CONCURRENTLY
builds it under SHARE UPDATE EXCLUSIVE (reads and writes go on) outside the transaction; ADD
CONSTRAINT … USING INDEX then only updates the catalog (the index takes the constraint's name). A
partitioned table has no USING INDEX: each partition gets its constraint that way first, then the
parent's ADD CONSTRAINT attaches them.
Source: PostgreSQL docs, ALTER TABLE, "ADD table_constraint_using_index", and CREATE INDEX,
"Building Indexes Concurrently".
"""

from __future__ import annotations

import copy

from pglast import ast
from pglast.enums import AlterTableType, ConstrType

from ..rewrite.opcall import Call
from ..rewrite.outcome import Outcome
from ..rewrite.plans import PlanStep
from ..rewrite.sqlrewrite import SqlRewrite, SqlStep, deparse, render_steps
from ..rewrite.steps._common import op_call, pystr, qualified, table_of, unquote
from ..sql.parse import quote_ident, range_name
from ._alter_table import around, commands, find_command, statement
from .base import Example, Recipe, Refusal
from .create_index import concurrent_steps, partitions_of

SETUP = 'op.execute("CREATE TABLE products (id bigint PRIMARY KEY, sku text, tenant_id bigint)")'


def index_for(con: ast.Constraint, relation: ast.RangeVar, name: str, columns: list[str]) -> ast.IndexStmt:
    """The unique index the constraint would build, with its INCLUDE, WITH options, tablespace and
    NULLS NOT DISTINCT."""
    include = f" INCLUDE ({', '.join(quote_ident(s.sval) for s in con.including)})" if con.including else ""
    idx = statement(f"CREATE UNIQUE INDEX {quote_ident(name)} ON {deparse(relation)} "
                    f"({', '.join(quote_ident(c) for c in columns)}){include}")
    idx.options = con.options
    idx.tableSpace = con.indexspace
    idx.nulls_not_distinct = con.nulls_not_distinct
    return idx


def using_index(node, index: int, con: ast.Constraint, name: str) -> str:
    """The statement with command ``index`` (an ADD CONSTRAINT, or the ADD COLUMN of an inline one)
    turned into ``ADD CONSTRAINT name … USING INDEX name`` (DEFERRABLE and INITIALLY kept; the index
    already has the rest)."""
    out = copy.deepcopy(node)
    con = copy.deepcopy(con)
    out.cmds = (ast.AlterTableCmd(subtype=AlterTableType.AT_AddConstraint, def_=con,
                                  behavior=commands(node)[index].behavior),)
    con.conname = name
    con.keys = con.including = con.options = con.indexspace = None
    con.nulls_not_distinct = False
    con.indexname = name
    return deparse(out)


def constraint_command(node, contype):
    """(index of the command, its constraint, the column it is inline with or None, the statement
    without that inline constraint) for the one ADD of a ``contype`` constraint building an index."""
    def adds(c) -> bool:
        return c.subtype == AlterTableType.AT_AddConstraint and isinstance(c.def_, ast.Constraint) \
            and c.def_.contype == contype and not c.def_.indexname

    i = find_command(node, adds)
    if i is not None:
        return i, commands(node)[i].def_, None, None
    i = find_command(node, lambda c: c.subtype == AlterTableType.AT_AddColumn
                     and any(k.contype == contype for k in c.def_.constraints or ()))
    if i is None:
        return None
    without = copy.deepcopy(node)
    coldef = commands(without)[i].def_
    (con,) = [k for k in coldef.constraints if k.contype == contype][:1] or [None]
    coldef.constraints = tuple(k for k in coldef.constraints if k is not con) or None
    without.cmds = (commands(without)[i],)
    return i, con, coldef.colname, deparse(without)


def column_steps(add_column: str, facts, what: str, rest: list[SqlStep]) -> list[SqlStep]:
    """The safe form of the ADD COLUMN an inline constraint came with (without the constraint): the
    add-column recipe's, since an IDENTITY, GENERATED … STORED, serial or volatile DEFAULT column
    rewrites the table by itself. Raises Refusal with the add-column plan followed by ``rest`` (the
    index built CONCURRENTLY and attached) when that recipe refuses."""
    from ..sql.parse import parse_one
    from . import recipe

    try:
        rw = recipe("add-column").rewrite_sql(parse_one(add_column), facts)
    except Refusal as exc:
        raise Refusal(f"{exc.reason}; then {what} from an index built CONCURRENTLY",
                      [*exc.plan, PlanStep(f"then {what}: its unique index built CONCURRENTLY, attached with "
                                           "USING INDEX", render_steps(rest))]) from None
    return list(rw.steps) if rw is not None else [SqlStep(add_column)]


def build_then_attach(node, facts, contype, label: str, suffix: str, before=None) -> SqlRewrite | None:
    """The safe form of ADD UNIQUE / PRIMARY KEY: ``before(relation, columns)`` (the PRIMARY KEY's
    NOT NULL steps), the unique index CONCURRENTLY (create-index recipe), ADD CONSTRAINT … USING INDEX."""
    table = range_name(node.relation)
    if not facts.preexisting(table):
        return None
    found = constraint_command(node, contype)
    if found is None:
        return None
    i, con, column, add_column = found
    columns = [s.sval for s in con.keys or ()] or [column]
    base = node.relation.relname
    name = con.conname or (f"{base}_pkey" if contype == ConstrType.CONSTR_PRIMARY
                           else f"{base}_{'_'.join(columns)}_{suffix}"[:63])
    if facts.relkind(table) == "p":
        raise Refusal(f"{table} is partitioned: PostgreSQL has no ADD CONSTRAINT … USING INDEX on a partitioned "
                      "table", plan=partitioned_plan(node, facts, con, name, columns, label))
    rest = before(node.relation, columns) if before else []
    rest += concurrent_steps(index_for(con, node.relation, name, columns), facts)
    rest.append(SqlStep(using_index(node, i, con, name)))
    steps = column_steps(add_column, facts, f"{label} {name}", rest) + rest if add_column else rest
    return SqlRewrite(what=f"{label} {name} on {table} → unique index built CONCURRENTLY, then ADD CONSTRAINT … "
                           "USING INDEX (instant)", steps=around(node, i, steps))


def partitioned_plan(node, facts, con, name: str, columns: list[str], label: str) -> list[PlanStep]:
    """Each partition's own constraint through its concurrent index, then the parent's constraint,
    which attaches them (catalog only)."""
    plan = []
    for part in partitions_of(facts, range_name(node.relation)):
        schema, _, rel = part.rpartition(".")
        rv = ast.RangeVar(relname=rel, schemaname=schema or None, inh=True, relpersistence="p")
        part_name = f"{rel}_{'_'.join(columns)}_key"[:63] if label == "UNIQUE" else f"{rel}_pkey"
        part_node = copy.deepcopy(node)
        part_node.relation = rv
        i = constraint_command(part_node, con.contype)[0]
        steps = concurrent_steps(index_for(con, rv, part_name, columns), facts)
        steps.append(SqlStep(using_index(part_node, i, con, part_name)))
        plan.append(PlanStep(f"partition {part}: its unique index CONCURRENTLY, then its {label} USING INDEX",
                             render_steps(steps)))
    plan.append(PlanStep(f"the parent: ADD {label} {name} (attaches the partitions' constraints, catalog only)",
                         f"op.execute({pystr(deparse(node))})"))
    return plan


def rewrite_constraint_op(call: Call, facts, primary: bool = False) -> Outcome | None:
    """``op.create_unique_constraint`` → ``op.add_unique_constraint_using_index``; with ``primary``,
    ``op.create_primary_key`` → ``op.add_primary_key_using_index`` (NOT NULL first, then the same)."""
    table, schema = table_of(call)
    if table is None or not facts.preexisting(qualified(table, schema)):
        return None
    kind = "add-primary-key-using-index" if primary else "add-unique-using-index"
    if facts.relkind(qualified(table, schema)) == "p":
        return Outcome(kind, f"{'PRIMARY KEY' if primary else 'UNIQUE'} on partitioned {table}",
                       refused="no concurrent build on a partitioned table: each partition needs its own "
                               "unique index first")
    cols = call.get("columns")
    name = call.src("constraint_name")
    if name in (None, "None"):
        if not isinstance(cols, (list, tuple)):
            return Outcome(kind, "unnamed constraint", refused="name the constraint")
        name = pystr(f"{table}_pkey" if primary else f"{table}_{'_'.join(cols)}_key")
    unknown = [k for k in call.kwargs if k not in ("deferrable", "initially")]
    if unknown:
        return Outcome(kind, f"constraint {unquote(name)}", refused=f"options {', '.join(unknown)} not supported")
    extra = {k: v.source for k, v in call.kwargs.items()}
    opname = "add_primary_key_using_index" if primary else "add_unique_constraint_using_index"
    code = op_call(opname, name, call.src("table_name"), call.src("columns"), schema=call.src("schema"), **extra)
    return Outcome(kind, f"{'PRIMARY KEY' if primary else 'UNIQUE'} {unquote(name)} on {table} → unique index "
                   "built CONCURRENTLY, then ADD CONSTRAINT … USING INDEX (instant)", code=code)


class UniqueConstraint(Recipe):
    id = "unique-constraint"
    title = "Add a UNIQUE constraint without building its index under ACCESS EXCLUSIVE"
    rules = ("unique-constraint-builds-index",)
    ops = ("create_unique_constraint",)
    nodes = (ast.AlterTableStmt,)
    docs = "https://www.postgresql.org/docs/current/sql-altertable.html#SQL-ALTERTABLE-DESC-ADD-TABLE-CONSTRAINT-USING-INDEX"
    rationale = __doc__.split("\n\n", 1)[1].rsplit("Source:", 1)[0]
    examples = (
        Example(
            title="op.create_unique_constraint",
            setup=SETUP,
            bad='op.create_unique_constraint("uq_products_sku", "products", ["sku"])',
            good=('import alembic_guard.ops  # noqa: F401  (registers op.add_unique_constraint_using_index & co.)\n'
                  'op.add_unique_constraint_using_index("uq_products_sku", "products", ["sku"])')),
        Example(
            title="raw SQL with INCLUDE and DEFERRABLE (both kept)",
            setup=SETUP,
            bad=('op.execute("ALTER TABLE products ADD CONSTRAINT uq_products_tenant_sku UNIQUE (tenant_id, sku) '
                 'INCLUDE (id) DEFERRABLE")'),
            good=('with op.get_context().autocommit_block():\n'
                  '    op.execute("DROP INDEX CONCURRENTLY IF EXISTS uq_products_tenant_sku")\n'
                  '    op.execute("CREATE UNIQUE INDEX CONCURRENTLY uq_products_tenant_sku ON products '
                  '(tenant_id, sku) INCLUDE (id)")\n'
                  'op.execute("SET LOCAL lock_timeout = \'2s\'")\n'
                  'op.execute("ALTER TABLE products ADD CONSTRAINT uq_products_tenant_sku UNIQUE '
                  'USING INDEX uq_products_tenant_sku DEFERRABLE")')),
    )

    def rewrite_sql(self, node, facts) -> SqlRewrite | None:
        return build_then_attach(node, facts, ConstrType.CONSTR_UNIQUE, "UNIQUE", "key")


    def rewrite_op(self, call: Call, facts) -> Outcome | None:
        return rewrite_constraint_op(call, facts)
