from pglast import ast

from ..pg_versions import FAST_ADD_COLUMN_DEFAULT
from ..sql import parse_one, range_name, type_name
from ._common import column_constraints, failed, table_commands
from ..recipes.add_column import SERIAL_TYPES
from .base import PG_DOCS, Rule, register
from .recipe_hint import example, hint_for


@register
class AddColumnNotNullWithoutDefault(Rule):
    id = "add-column-not-null-without-default"
    title = "ADD COLUMN … NOT NULL without a DEFAULT on an existing table"
    severity = "error"
    docs = PG_DOCS + "sql-altertable.html#SQL-ALTERTABLE-DESC-ADD-COLUMN"
    features = (FAST_ADD_COLUMN_DEFAULT,)
    rationale = (
        "A new column is NULL in every existing row unless it has a DEFAULT, so ADD COLUMN … NOT NULL "
        "without one fails with \"column … contains null values\" on any non-empty table (it passes on "
        "an empty development database). It also breaks the application version still running, whose "
        "INSERTs do not name the column. Give it a non-volatile DEFAULT (catalog-only since "
        "PostgreSQL 11), or add it nullable, backfill, and add NOT NULL through a validated CHECK. Not "
        "reported when an earlier statement of the revision emptied the table (TRUNCATE, or DELETE "
        "without WHERE) and none wrote rows back."
    )
    bad_example, good_example = example("add-column", 1)

    def check(self, ctx):
        if failed(ctx):
            return
        for table, cmd in table_commands(ctx, "AT_AddColumn"):
            if not ctx.preexisting(table) or _emptied_before(ctx, table):
                continue
            coldef = cmd.def_
            kinds = {k for k, _ in column_constraints(coldef)}
            not_null = "NOTNULL" in kinds or "PRIMARY" in kinds or coldef.is_not_null
            filled = kinds & {"DEFAULT", "IDENTITY", "GENERATED"} or \
                type_name(coldef.typeName).lower() in SERIAL_TYPES
            if not not_null or filled:
                continue
            col = coldef.colname
            tname = type_name(coldef.typeName)
            fix = hint_for(self.id, ctx)
            yield self.finding(
                ctx, f"ADD COLUMN {col} {tname} NOT NULL on existing table {table} has no DEFAULT: it fails "
                     f"(\"column {col} contains null values\") as soon as {table} has a row, and INSERTs "
                     f"of the running application, which do not set {col}, fail after it.",
                table=table, fix=fix)


def _emptied_before(ctx, table: str) -> bool:
    """An earlier statement of the revision emptied ``table`` (``TRUNCATE``, ``DELETE`` without WHERE)
    and none put rows back (INSERT, COPY, MERGE) since: the ADD COLUMN meets no row there either."""
    emptied = False
    for st in ctx.previous:
        if st.observation.error is not None:
            continue
        node = parse_one(st.sql)
        if isinstance(node, ast.TruncateStmt) and table in {range_name(r) for r in node.relations or ()}:
            emptied = True
        elif isinstance(node, ast.DeleteStmt) and node.whereClause is None and node.relation.inh \
                and range_name(node.relation) == table:
            emptied = True
        elif isinstance(node, (ast.InsertStmt, ast.CopyStmt, ast.MergeStmt)) \
                and range_name(node.relation) == table:
            emptied = False
        elif node is None:
            emptied = False  # did not parse (bind parameters, e.g. op.bulk_insert): it may have written rows
    return emptied
