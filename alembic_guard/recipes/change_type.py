"""ALTER COLUMN … TYPE that rewrites the table → expand/contract through a second column.

A type change that is not binary-coercible (int → bigint, varchar(n) shrinking, json → jsonb) holds
ACCESS EXCLUSIVE while PostgreSQL rewrites the table and rebuilds every index: reads and writes
wait throughout. One revision cannot avoid it. The plan adds a column of the new type, keeps it
filled by a trigger on every write, backfills the existing rows in keyset batches, makes it NOT
NULL through a validated constraint when the old one is, builds each index of the old column on the
new one CONCURRENTLY, swaps the names in one short transaction and drops the old column later. A
binary-coercible change (varchar(n) → larger, varchar → text) only touches the catalog; the trace
decides, and such a change gets no plan.
Source: PostgreSQL docs, ALTER TABLE, "Notes" (SET DATA TYPE rewrites the table and its indexes
unless the old type is binary coercible to the new one).
"""

from __future__ import annotations

import copy

from pglast import ast
from pglast.enums import AlterTableType, ConstrType

from ..rewrite.plans import PlanStep
from ..rewrite.sqlrewrite import SqlRewrite, deparse
from ..sql.parse import quote_ident, range_name
from ._columns import (autocommit, base_name, constraint_node, drop_sync_trigger, expression_on, foreign_keys,
                       ident63, in_schema, index_on_new_column, indexes_on, lock_timeout_call, outcome_of,
                       per_command_hint, sql_name, statement_nodes, sync_trigger)
from .add_column import backfill_call, set_not_null_call
from .base import Example, Recipe, Refusal


def type_change(node) -> ast.AlterTableCmd | None:
    """The first ALTER COLUMN … TYPE command of an ALTER TABLE, else None."""
    if not isinstance(node, ast.AlterTableStmt):
        return None
    return next((c for c in node.cmds or () if isinstance(c, ast.AlterTableCmd)
                 and c.subtype == AlterTableType.AT_AlterColumnType), None)


def conversion(cmd: ast.AlterTableCmd) -> ast.Node:
    """The value of the new column from the old one: the USING expression, else ``column::new type``."""
    if cmd.def_.raw_default is not None:
        return cmd.def_.raw_default
    return ast.TypeCast(arg=ast.ColumnRef(fields=(ast.String(sval=cmd.name),)),
                        typeName=copy.deepcopy(cmd.def_.typeName))


def new_type_sql(cmd: ast.AlterTableCmd) -> str:
    """The new type as SQL (deparsed from the TypeName), with its COLLATE clause when there is one."""
    typ = deparse(cmd.def_.typeName)
    if cmd.def_.collClause is not None:
        typ += " COLLATE " + ".".join(quote_ident(n.sval) for n in cmd.def_.collClause.collname)
    return typ


def change_type_plan(node: ast.AlterTableStmt, cmd: ast.AlterTableCmd, facts) -> list[PlanStep]:
    """Expand (new column, sync trigger, batched backfill, NOT NULL, concurrent indexes), swap, contract;
    with the catalog's type, NOT NULL and indexes of the column."""
    table = range_name(node.relation)
    rel = deparse(node.relation)
    col = cmd.name
    tmp = ident63(f"{col}_new")
    old = ident63(f"{col}_old")
    typ = new_type_sql(cmd)
    conv = conversion(cmd)
    trigger = ident63(f"{base_name(table)}_{tmp}_sync")
    tf = facts.table(table)
    was_not_null = bool(tf and col in tf.not_null)
    indexes = indexes_on(facts, table, col)
    constraint_indexes = [(n, i) for n, i in indexes if tf and n in tf.constraints]

    expand = [lock_timeout_call([f"ALTER TABLE {rel} ADD COLUMN IF NOT EXISTS {quote_ident(tmp)} {typ}"]),
              sync_trigger(table, trigger, f"NEW.{quote_ident(tmp)} := {expression_on(conv, col, prefix='new')};"),
              backfill_call(table, tmp, deparse(conv))]
    if was_not_null:
        expand.append(set_not_null_call(table, tmp))
    elif tf is None:  # the catalog is unknown here: say what to check
        expand.append(set_not_null_call(table, tmp) + f"  # if {col} is NOT NULL")
        expand.append(f"# one CREATE INDEX CONCURRENTLY per index on {col}, on {tmp}")
    for name, index in indexes:
        new_name = ident63(f"{name}_new")
        expand.append(autocommit([f"DROP INDEX CONCURRENTLY IF EXISTS {sql_name(in_schema(table, new_name))}",
                                  index_on_new_column(index, new_name, col, tmp)]))

    swap = [f"ALTER TABLE {rel} RENAME COLUMN {quote_ident(col)} TO {quote_ident(old)}",
            f"ALTER TABLE {rel} RENAME COLUMN {quote_ident(tmp)} TO {quote_ident(col)}",
            *drop_sync_trigger(table, trigger)]
    manual: list[str] = []
    for name, index in indexes:
        new_name = ident63(f"{name}_new")
        if (name, index) in constraint_indexes:
            con = constraint_node(tf.constraints[name])
            kind = {ConstrType.CONSTR_PRIMARY: "PRIMARY KEY", ConstrType.CONSTR_UNIQUE: "UNIQUE"}.get(
                con.contype if con is not None else None)
            if kind is None:  # an exclusion constraint cannot be attached to an index: rebuilt by hand
                manual.append(f"# {name} backs a constraint USING INDEX cannot attach: re-create it on {col} after")
                continue
            swap += [f"ALTER TABLE {rel} DROP CONSTRAINT {quote_ident(name)}",
                     f"ALTER TABLE {rel} ADD CONSTRAINT {quote_ident(name)} {kind} USING INDEX {quote_ident(new_name)}"]
        else:
            swap += [f"ALTER INDEX {sql_name(in_schema(table, name))} RENAME TO {quote_ident(ident63(name + '_old'))}",
                     f"ALTER INDEX {sql_name(in_schema(table, new_name))} RENAME TO {quote_ident(name)}"]
    if was_not_null:  # the running code no longer writes the old column (after the constraints moved)
        swap.append(f"ALTER TABLE {rel} ALTER COLUMN {quote_ident(old)} DROP NOT NULL")
    referencing = [(holder, fk) for holder, fk, target in foreign_keys(facts, table)
                   if target == table and holder != table] if constraint_indexes else []
    notes = "\n".join(
        [f"# first drop {fk} on {holder} (it references {col}); re-add it NOT VALID + VALIDATE after the swap"
         for holder, fk in referencing]
        + manual + [f"# and move {col}'s default or identity sequence to the new column (ALTER SEQUENCE … OWNED BY)"])
    old_type = facts.column_type(table, col)
    return [
        PlanStep(f"expand: add {tmp} {typ} next to {col}" + (f" {old_type}" if old_type else "")
                 + ", filled on every write (trigger), backfilled in batches"
                 + (", NOT NULL" if was_not_null else "") + (", its indexes built CONCURRENTLY" if indexes else ""),
                 "\n".join(expand)),
        PlanStep(f"swap: {tmp} becomes {col} in one short transaction", notes + "\n" + lock_timeout_call(swap)),
        PlanStep(f"contract: drop {old} once nothing uses it",
                 lock_timeout_call([f"ALTER TABLE {rel} DROP COLUMN IF EXISTS {quote_ident(old)}"])),
    ]


class ChangeType(Recipe):
    id = "change-type"
    title = "Change a column's type without rewriting the table under ACCESS EXCLUSIVE"
    rules = ("alter-column-type-rewrites",)
    ops = ("alter_column",)
    nodes = (ast.AlterTableStmt,)
    docs = "https://www.postgresql.org/docs/current/sql-altertable.html#SQL-ALTERTABLE-NOTES"
    rationale = __doc__.split("\n\n", 1)[1].rsplit("Source:", 1)[0]
    examples = (
        Example(
            title="int → bigint on an indexed NOT NULL column",
            fixed="plan",
            setup=('op.execute("CREATE TABLE orders (id bigint PRIMARY KEY, customer_id int NOT NULL)")\n'
                   'op.execute("CREATE INDEX ix_orders_customer_id ON orders (customer_id)")'),
            bad='op.alter_column("orders", "customer_id", type_=sa.BigInteger(), existing_type=sa.Integer())',
            good=('import alembic_guard.ops  # noqa: F401  (registers op.backfill & co.)\n'
                  'op.run_with_lock_timeout("ALTER TABLE orders ADD COLUMN IF NOT EXISTS customer_id_new bigint")\n'
                  'op.execute("""\n'
                  'CREATE OR REPLACE FUNCTION orders_customer_id_new_sync() RETURNS trigger LANGUAGE plpgsql AS $$\n'
                  'BEGIN\n'
                  '    NEW.customer_id_new := CAST(new.customer_id AS bigint);\n'
                  '    RETURN NEW;\n'
                  'END $$""")\n'
                  'op.run_with_lock_timeout("CREATE TRIGGER orders_customer_id_new_sync BEFORE INSERT OR UPDATE '
                  'ON orders FOR EACH ROW EXECUTE FUNCTION orders_customer_id_new_sync()")\n'
                  'op.backfill("orders", {"customer_id_new": "CAST(customer_id AS bigint)"})\n'
                  'op.set_not_null_safely("orders", "customer_id_new")\n'
                  'with op.get_context().autocommit_block():\n'
                  '    op.execute("DROP INDEX CONCURRENTLY IF EXISTS ix_orders_customer_id_new")\n'
                  '    op.execute("CREATE INDEX CONCURRENTLY IF NOT EXISTS ix_orders_customer_id_new '
                  'ON public.orders USING btree (customer_id_new)")')),
    )

    def hint(self, node, facts):
        return per_command_hint(self, node, facts)

    def rewrite_sql(self, node, facts) -> SqlRewrite | None:
        cmd = type_change(node)
        table = range_name(node.relation) if cmd is not None else None
        if cmd is None or not facts.preexisting(table):
            return None
        if facts.rewritten is not None and table not in facts.rewritten and table not in (facts.scanned or ()):
            return None  # binary-coercible on the shadow: catalog only (the lock_timeout fallback wraps it)
        raise Refusal(f"the type change of {table}.{cmd.name} rewrites {table} and all its indexes under "
                      "ACCESS EXCLUSIVE", change_type_plan(node, cmd, facts))

    def rewrite_op(self, call, facts):
        if call.src("type_") in (None, "None"):
            return None
        node = statement_nodes(facts, ast.AlterTableStmt, lambda n: type_change(n) is not None)
        if node is None:
            return None
        cmd = type_change(node)
        return outcome_of(self, node, facts, "rewriting-type-change",
                          f"ALTER {range_name(node.relation)}.{cmd.name} TYPE {new_type_sql(cmd)}")
