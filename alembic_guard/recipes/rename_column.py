"""RENAME COLUMN on an existing table → expand/contract with a column kept in sync both ways.

The rename itself is instant (a brief ACCESS EXCLUSIVE), but while the deployment rolls out the old
application version still reads and writes the old name and the new version the new one: whichever
runs first fails. The plan adds the new column next to the old one (same SQL type, from the catalog)
and a trigger that copies in both directions — on INSERT whichever column the writer set, on UPDATE
the one that changed — so neither version loses a write; a batched backfill fills the existing
rows; the new column becomes NOT NULL when the old one is and gets the old one's indexes
(CONCURRENTLY); once no instance of the old code is left, the trigger and the old column go.
Source: PostgreSQL docs, ALTER TABLE (RENAME) and CREATE TRIGGER; the expand/contract pattern.
"""

from __future__ import annotations

from pglast import ast
from pglast.enums import ObjectType

from ..rewrite.plans import PlanStep
from ..rewrite.sqlrewrite import SqlRewrite, deparse
from ..sql.parse import quote_ident, range_name
from ._columns import (autocommit, base_name, drop_sync_trigger, ident63, in_schema, index_on_new_column,
                       indexes_on, lock_timeout_call, outcome_of, sql_name, statement_nodes, sync_trigger)
from .add_column import backfill_call, set_not_null_call
from .base import Example, Recipe, Refusal


def column_rename(node) -> bool:
    return isinstance(node, ast.RenameStmt) and node.renameType == ObjectType.OBJECT_COLUMN \
        and node.relationType in (ObjectType.OBJECT_TABLE, ObjectType.OBJECT_FOREIGN_TABLE)


def two_way_sync(old: str, new: str) -> str:
    """The trigger body: on INSERT take whichever column is set (the new one when both are), on UPDATE
    copy the column that changed onto the other."""
    o, n = quote_ident(old), quote_ident(new)
    return (f"IF TG_OP = 'INSERT' THEN\n"
            f"    IF NEW.{n} IS NULL THEN NEW.{n} := NEW.{o}; ELSE NEW.{o} := NEW.{n}; END IF;\n"
            f"ELSIF NEW.{n} IS DISTINCT FROM OLD.{n} THEN\n"
            f"    NEW.{o} := NEW.{n};\n"
            f"ELSE\n"
            f"    NEW.{n} := NEW.{o};\n"
            f"END IF;")


def rename_plan(node: ast.RenameStmt, facts) -> list[PlanStep]:
    """Expand (new column of the catalog's type, two-way trigger, backfill, NOT NULL, indexes), deploy,
    contract (trigger and old column dropped)."""
    table = range_name(node.relation)
    rel = deparse(node.relation)
    old, new = node.subname, node.newname
    typ = facts.column_type(table, old) or f"<SQL type of {old}>"
    tf = facts.table(table)
    trigger = ident63(f"{base_name(table)}_{old}_{new}_sync")
    expand = [lock_timeout_call([f"ALTER TABLE {rel} ADD COLUMN IF NOT EXISTS {quote_ident(new)} {typ}"]),
              sync_trigger(table, trigger, two_way_sync(old, new)),
              backfill_call(table, new, quote_ident(old))]
    if tf and old in tf.not_null:
        expand.append(set_not_null_call(table, new))
    elif tf is None:  # the catalog is unknown here: say what to check
        expand.append(set_not_null_call(table, new) + f"  # if {old} is NOT NULL")
        expand.append(f"# one CREATE INDEX CONCURRENTLY per index on {old}, on {new}")
    for name, index in indexes_on(facts, table, old):
        new_name = ident63(name.replace(old, new) if old in name else f"{name}_{new}")
        expand.append(autocommit([f"DROP INDEX CONCURRENTLY IF EXISTS {sql_name(in_schema(table, new_name))}",
                                  index_on_new_column(index, new_name, old, new)]))
    return [
        PlanStep(f"expand: add {new} ({typ}) next to {old}, both kept in sync by a trigger, backfilled in batches "
                 "(deploy it before the new code)", "\n".join(expand)),
        PlanStep(f"deploy: the application reads and writes {new} only (old instances still write {old}: "
                 "the trigger copies it)", "# no migration"),
        PlanStep(f"contract: drop the trigger and {old} (after every old instance is gone)",
                 lock_timeout_call([*drop_sync_trigger(table, trigger),
                                    f"ALTER TABLE {rel} DROP COLUMN IF EXISTS {quote_ident(old)}"])),
    ]


class RenameColumn(Recipe):
    id = "rename-column"
    title = "Rename a column without breaking the code that is still running"
    rules = ("rename-column",)
    ops = ("alter_column",)
    nodes = (ast.RenameStmt,)
    docs = "https://www.postgresql.org/docs/current/sql-altertable.html#SQL-ALTERTABLE-DESC-RENAME"
    rationale = __doc__.split("\n\n", 1)[1].rsplit("Source:", 1)[0]
    examples = (
        Example(
            title="rename customers.name to full_name",
            fixed="plan",
            setup='op.execute("CREATE TABLE customers (id bigint PRIMARY KEY, name text NOT NULL)")',
            bad='op.alter_column("customers", "name", new_column_name="full_name")',
            good=('import alembic_guard.ops  # noqa: F401  (registers op.backfill & co.)\n'
                  'op.run_with_lock_timeout("ALTER TABLE customers ADD COLUMN IF NOT EXISTS full_name text")\n'
                  'op.execute("""\n'
                  'CREATE OR REPLACE FUNCTION customers_name_full_name_sync() RETURNS trigger LANGUAGE plpgsql AS $$\n'
                  'BEGIN\n'
                  '    IF TG_OP = \'INSERT\' THEN\n'
                  '        IF NEW.full_name IS NULL THEN NEW.full_name := NEW.name; ELSE NEW.name := NEW.full_name; '
                  'END IF;\n'
                  '    ELSIF NEW.full_name IS DISTINCT FROM OLD.full_name THEN\n'
                  '        NEW.name := NEW.full_name;\n'
                  '    ELSE\n'
                  '        NEW.full_name := NEW.name;\n'
                  '    END IF;\n'
                  '    RETURN NEW;\n'
                  'END $$""")\n'
                  'op.run_with_lock_timeout("CREATE TRIGGER customers_name_full_name_sync BEFORE INSERT OR UPDATE '
                  'ON customers FOR EACH ROW EXECUTE FUNCTION customers_name_full_name_sync()")\n'
                  'op.backfill("customers", {"full_name": "name"})\n'
                  'op.set_not_null_safely("customers", "full_name")')),
    )

    def rewrite_sql(self, node, facts) -> SqlRewrite | None:
        if not column_rename(node) or not facts.preexisting(range_name(node.relation)):
            return None
        raise Refusal(f"renaming {range_name(node.relation)}.{node.subname} breaks every running instance that "
                      f"still uses {node.subname}", rename_plan(node, facts))

    def rewrite_op(self, call, facts):
        if call.src("new_column_name") in (None, "None"):
            return None
        node = statement_nodes(facts, ast.RenameStmt, column_rename)
        if node is None:
            return None
        return outcome_of(self, node, facts, "rename-column",
                          f"RENAME {range_name(node.relation)}.{node.subname} → {node.newname}")
