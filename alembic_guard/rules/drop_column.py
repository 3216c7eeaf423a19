from ._common import failed, table_commands, table_lock
from .base import PG_DOCS, Rule, register
from .recipe_hint import example, hint_for


@register
class DropColumn(Rule):
    id = "drop-column"
    title = "DROP COLUMN on an existing table"
    severity = "error"
    docs = PG_DOCS + "sql-altertable.html#SQL-ALTERTABLE-DESC-DROP-COLUMN"
    rationale = (
        "DROP COLUMN only marks the column dropped in the catalog, under a brief ACCESS EXCLUSIVE, but "
        "every query of the running application that names the column (or an ORM that selects all "
        "mapped columns) fails from that moment, and the data is gone. Contract in steps: stop using "
        "the column in the code and deploy, drop dependent indexes concurrently, then drop the column "
        "with lock_timeout in a later release (suppress this finding there, with the reason)."
    )
    bad_example, good_example = example("drop-column")

    def check(self, ctx):
        if failed(ctx):
            return
        for table, cmd in table_commands(ctx, "AT_DropColumn"):
            if not ctx.preexisting(table):
                continue
            col = cmd.name
            fix = hint_for(self.id, ctx)
            yield self.finding(
                ctx, f"DROP COLUMN {table}.{col} (under {table_lock(ctx, table)}) breaks application code "
                     f"still reading or writing {col}, and its data is lost.", table=table, fix=fix)
