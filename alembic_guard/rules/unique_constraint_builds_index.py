from ._common import added_constraints, failed, table_lock
from .base import PG_DOCS, Rule, register
from .recipe_hint import example, hint_for


@register
class UniqueConstraintBuildsIndex(Rule):
    id = "unique-constraint-builds-index"
    title = "UNIQUE or PRIMARY KEY constraint that builds its index under the table lock"
    severity = "error"
    docs = PG_DOCS + "sql-altertable.html#SQL-ALTERTABLE-DESC-ADD-TABLE-CONSTRAINT-USING-INDEX"
    rationale = (
        "ADD CONSTRAINT … UNIQUE / PRIMARY KEY (and ADD COLUMN … UNIQUE / PRIMARY KEY) builds the unique "
        "index while holding ACCESS EXCLUSIVE on the table: every query waits for the whole build. "
        "Build the index with CREATE UNIQUE INDEX CONCURRENTLY first (SHARE UPDATE EXCLUSIVE), then "
        "attach it with ADD CONSTRAINT … USING INDEX, which only updates the catalog. For a PRIMARY KEY "
        "the columns must already be NOT NULL, otherwise USING INDEX silently scans the table to set it."
    )
    bad_example, good_example = example("unique-constraint")

    def check(self, ctx):
        if failed(ctx):
            return
        for table, column, con, kind in added_constraints(ctx, "UNIQUE", "PRIMARY"):
            primary = kind == "PRIMARY"
            label = "PRIMARY KEY" if primary else "UNIQUE"
            cols = [s.sval for s in con.keys or ()] or ([column] if column else [])
            base = table.split(".")[-1]
            name = con.conname or (f"{base}_pkey" if primary else f"{base}_{'_'.join(cols)}_key")
            lock = table_lock(ctx, table)
            if con.indexname:
                # USING INDEX is catalog-only, unless PRIMARY KEY has to SET NOT NULL (a scan).
                if primary and ctx.scanned(table):
                    yield self.finding(
                        ctx, f"ADD PRIMARY KEY {name} USING INDEX {con.indexname} scans all of {table} "
                             f"under {lock} to make its columns NOT NULL: reads and writes wait.",
                        table=table, fix=hint_for(self.id, ctx, "primary-key"))
                continue
            what = f"{label} {name} ({', '.join(cols)})"
            if column:
                what += f" declared inline with ADD COLUMN {column}"
            fix = hint_for(self.id, ctx, "primary-key" if primary else "unique-constraint")
            yield self.finding(
                ctx, f"{what} builds its unique index on existing table {table} under {lock}: every query "
                     f"on {table} waits for the whole index build.", table=table, fix=fix)
