from ..sql import range_name
from ._common import added_constraints, failed, sql_text, table_lock
from .base import PG_DOCS, Rule, register
from .recipe_hint import example, hint_for


@register
class ConstraintValidatedInPlace(Rule):
    id = "constraint-validated-in-place"
    title = "FOREIGN KEY or CHECK validated while the table is locked"
    severity = "error"
    docs = PG_DOCS + "sql-altertable.html#SQL-ALTERTABLE-NOTES"
    rationale = (
        "ADD FOREIGN KEY takes SHARE ROW EXCLUSIVE on both tables and ADD CHECK takes ACCESS EXCLUSIVE, "
        "then each scans the whole table to validate existing rows while holding that lock (writes, "
        "and for CHECK reads too, wait for the scan). ADD … NOT VALID only records the constraint "
        "(it is enforced for new rows at once); VALIDATE CONSTRAINT, run later in its own transaction, "
        "scans under SHARE UPDATE EXCLUSIVE, which blocks no reads or writes. The same applies to "
        "a CHECK declared inline with ADD COLUMN (ALTER DOMAIN: see domain-constraint-scans-tables)."
    )
    bad_example, good_example = example("foreign-key")

    def check(self, ctx):
        if failed(ctx):
            return
        for table, column, con, kind in added_constraints(ctx, "FOREIGN", "CHECK"):
            if con.skip_validation:
                continue
            ref = range_name(con.pktable) if kind == "FOREIGN" else None
            scanned = [t for t in (table, ref) if t and ctx.scanned(t) and ctx.preexisting(t)]
            # The trace decides: an inline REFERENCES on a new (all-NULL) column does not scan.
            if not ctx.scanned(table):
                continue
            lock = table_lock(ctx, table)
            name = con.conname or (f"{table.split('.')[-1]}_{column or '_'.join(s.sval for s in con.fk_attrs or ())}"
                                   f"_{'fkey' if kind == 'FOREIGN' else 'check'}")
            if kind == "FOREIGN":
                what = f"FOREIGN KEY {name} ({table} → {ref})"
                locks = f"{lock} on {table}" + (f" and {table_lock(ctx, ref)} on {ref}" if ref else "")
                blocked = "writes to both tables wait"
            else:
                expr = sql_text(con.raw_expr)
                what = f"CHECK {name} ({expr})"
                locks = f"{lock} on {table}"
                blocked = f"{'reads and writes' if lock == 'ACCESS EXCLUSIVE' else 'writes'} wait"
            if column:
                what += f" declared inline with ADD COLUMN {column}"
            fix = hint_for(self.id, ctx)
            yield self.finding(
                ctx, f"{what} is validated in place: the trace shows a full scan of "
                     f"{', '.join(scanned)} while holding {locks}; {blocked} for the scan.",
                table=table, fix=fix, relations=[ref] if ref else None)
