from ..pg_versions import FAST_ADD_COLUMN_DEFAULT, VIRTUAL_GENERATED_COLUMNS
from ..recipes.add_column import SERIAL_TYPES
from ..sql import type_name
from ._common import column_constraints, failed, sql_text, table_commands, table_lock
from .base import PG_DOCS, Rule, register
from .recipe_hint import example, hint_for


def rewrite_cause(coldef) -> tuple[str, str | None]:
    """``(why, default expression)`` for an added column that rewrote its table."""
    cons = column_constraints(coldef)
    tname = type_name(coldef.typeName).lower()
    for kind, _con in cons:
        if kind == "GENERATED":
            return "it is GENERATED ALWAYS AS (…) STORED: every row's value is computed and stored", None
        if kind == "IDENTITY":
            return "it is an IDENTITY column: every existing row gets its own sequence value", None
    if tname in SERIAL_TYPES:
        return f"it is {tname}: every existing row gets its own nextval() value", None
    if coldef.identity and coldef.identity != "\x00":
        return "it is an IDENTITY column: every existing row gets its own sequence value", None
    for kind, con in cons:
        if kind == "DEFAULT" and con.raw_expr is not None:
            expr = sql_text(con.raw_expr)
            return f"its DEFAULT {expr} is volatile: every existing row gets its own value", expr
    return "PostgreSQL had to rewrite every row to add it", None


@register
class AddColumnRewritesTable(Rule):
    id = "add-column-rewrites-table"
    title = "ADD COLUMN that rewrites the whole table"
    severity = "error"
    docs = PG_DOCS + "sql-altertable.html#SQL-ALTERTABLE-NOTES"
    features = (FAST_ADD_COLUMN_DEFAULT, VIRTUAL_GENERATED_COLUMNS,)
    rationale = (
        "Since PostgreSQL 11, ADD COLUMN with no default or a non-volatile default (a constant, now(), "
        "'{}'::jsonb) only updates the catalog. A volatile default (gen_random_uuid(), random(), "
        "clock_timestamp()), a GENERATED … STORED column, serial/bigserial or an IDENTITY column "
        "needs a value per existing row, so PostgreSQL rewrites the table and all its indexes "
        "under ACCESS EXCLUSIVE: reads and writes wait for the whole rewrite (10-20 s per million "
        "rows). Add the column nullable, set the default for new rows, backfill in batches, then "
        "add NOT NULL through a validated CHECK."
    )
    bad_example, good_example = example("add-column", 0)

    def check(self, ctx):
        if failed(ctx):
            return
        for table, cmd in table_commands(ctx, "AT_AddColumn"):
            if not ctx.preexisting(table) or not ctx.rewritten(table):
                continue
            coldef = cmd.def_
            col = coldef.colname
            why, _default = rewrite_cause(coldef)
            lock = table_lock(ctx, table)
            fix = hint_for(self.id, ctx)
            yield self.finding(
                ctx, f"ADD COLUMN {col} rewrote {table} and its indexes under {lock}: {why}. "
                     f"Reads and writes on {table} wait for the whole rewrite.",
                table=table, fix=fix)
