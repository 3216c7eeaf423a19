from ..pg_versions import SET_NOT_NULL_USES_CHECK, NOT_NULL_NOT_VALID
from ..sql import constraint_kind
from ._common import failed, table_commands, table_lock
from .base import PG_DOCS, Rule, register
from .recipe_hint import example, hint_for


@register
class SetNotNullScansTable(Rule):
    id = "set-not-null-scans-table"
    title = "SET NOT NULL that scans the whole table under ACCESS EXCLUSIVE"
    severity = "error"
    docs = PG_DOCS + "sql-altertable.html#SQL-ALTERTABLE-DESC-SET-DROP-NOT-NULL"
    features = (SET_NOT_NULL_USES_CHECK, NOT_NULL_NOT_VALID,)
    rationale = (
        "ALTER COLUMN … SET NOT NULL takes ACCESS EXCLUSIVE and scans the whole table to prove there is "
        "no NULL, so every query waits for the scan (about a second per million rows). Since "
        "PostgreSQL 12 the scan is skipped when a validated CHECK (col IS NOT NULL) constraint already "
        "proves it: add that CHECK NOT VALID, VALIDATE it in its own transaction (SHARE UPDATE "
        "EXCLUSIVE: reads and writes go on), then SET NOT NULL (instant) and drop the CHECK. "
        "PostgreSQL 18 can do the same with ADD CONSTRAINT … NOT NULL col NOT VALID + VALIDATE."
    )
    bad_example, good_example = example("set-not-null")

    def check(self, ctx):
        if failed(ctx):
            return
        for table, cmd in table_commands(ctx, "AT_SetNotNull", "AT_AddConstraint"):
            if cmd.subtype.name == "AT_AddConstraint":
                con = cmd.def_
                if constraint_kind(con) != "NOTNULL" or con.skip_validation:
                    continue
                column = con.keys[0].sval if con.keys else "?"
            else:
                column = cmd.name
            # The trace decides: with a validated CHECK (col IS NOT NULL) there is no scan.
            if not ctx.preexisting(table) or not ctx.scanned(table):
                continue
            lock = table_lock(ctx, table)
            yield self.finding(
                ctx, f"SET NOT NULL on {table}.{column} scans all of {table} under {lock}: reads and writes "
                     f"wait for the scan. No validated CHECK ({column} IS NOT NULL) lets PostgreSQL skip it.",
                table=table, fix=hint_for(self.id, ctx))
