from ..sql import type_name
from ._common import column_constraints, failed, table_commands
from .add_column_rewrites_table import SERIAL_TYPES
from .base import PG_DOCS, Rule, register
from .render import LOCK_TIMEOUT, add_column, batched_backfill, lines, not_null_via_check


@register
class AddColumnNotNullWithoutDefault(Rule):
    id = "add-column-not-null-without-default"
    title = "ADD COLUMN … NOT NULL without a DEFAULT on an existing table"
    severity = "error"
    docs = PG_DOCS + "sql-altertable.html#SQL-ALTERTABLE-DESC-ADD-COLUMN"
    rationale = (
        "A new column is NULL in every existing row unless it has a DEFAULT, so ADD COLUMN … NOT NULL "
        "without one fails with \"column … contains null values\" on any non-empty table (it passes on "
        "an empty development database). It also breaks the application version still running, whose "
        "INSERTs do not name the column. Give it a non-volatile DEFAULT (catalog-only since "
        "PostgreSQL 11), or add it nullable, backfill, and add NOT NULL through a validated CHECK."
    )
    bad_example = 'op.add_column("orders", sa.Column("status", sa.Text, nullable=False))'
    good_example = lines(
        LOCK_TIMEOUT,
        'op.add_column("orders", sa.Column("status", sa.Text, nullable=False, server_default="new"))',
    )

    def check(self, ctx):
        if failed(ctx):
            return
        for table, cmd in table_commands(ctx, "AT_AddColumn"):
            if not ctx.preexisting(table):
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
            fix = lines(
                "# either a non-volatile default (catalog only, no rewrite):",
                LOCK_TIMEOUT,
                add_column(table, col, tname, nullable=False, server_default_code="'<constant>'"),
                "# or nullable first, then backfill and NOT NULL via a validated CHECK:",
                add_column(table, col, tname),
                batched_backfill(table, col, "<value>"),
                not_null_via_check(table, col, pg_version=ctx.server_version_num),
            )
            yield self.finding(
                ctx, f"ADD COLUMN {col} {tname} NOT NULL on existing table {table} has no DEFAULT: it fails "
                     f"(\"column {col} contains null values\") as soon as {table} has a row, and INSERTs "
                     f"of the running application, which do not set {col}, fail after it.",
                table=table, fix=fix)
