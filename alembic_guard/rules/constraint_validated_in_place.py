from ..sql import range_name
from ._common import added_constraints, failed, sql_text, table_lock
from .base import PG_DOCS, Rule, register
from .render import LOCK_TIMEOUT, autocommit_block, execute, lines, q, table_args


def fk_fix(table: str, name: str, ref: str, cols: list[str], ref_cols: list[str]) -> str:
    return lines(
        LOCK_TIMEOUT,
        f"op.create_foreign_key({name!r}, {table_args(table)}, {ref!r}, {cols!r}, {ref_cols!r},\n"
        f"                      postgresql_not_valid=True)",
        autocommit_block(
            "# SHARE UPDATE EXCLUSIVE on the table, ROW SHARE on the referenced one: no writes wait",
            execute(f"ALTER TABLE {q(table)} VALIDATE CONSTRAINT {q(name)}")),
        f"# or in one call (alembic_guard.ops): op.add_foreign_key_safely({name!r}, {table!r}, {ref!r}, "
        f"{cols!r}, {ref_cols!r})",
    )


def check_fix(table: str, name: str, expr: str) -> str:
    return lines(
        LOCK_TIMEOUT,
        f"op.create_check_constraint({name!r}, {table_args(table)}, {expr!r},\n"
        f"                           postgresql_not_valid=True)",
        autocommit_block(
            "# SHARE UPDATE EXCLUSIVE only: reads and writes go on during the scan",
            execute(f"ALTER TABLE {q(table)} VALIDATE CONSTRAINT {q(name)}")),
        f"# or in one call (alembic_guard.ops): op.add_check_constraint_safely({name!r}, {table!r}, {expr!r})",
    )


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
    bad_example = 'op.create_foreign_key("fk_orders_product_id", "orders", "products", ["product_id"], ["id"])'
    good_example = fk_fix("orders", "fk_orders_product_id", "products", ["product_id"], ["id"])

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
                cols = [s.sval for s in con.fk_attrs or ()] or [column]
                ref_cols = [s.sval for s in con.pk_attrs or ()] or ["id"]
                what = f"FOREIGN KEY {name} ({table} → {ref})"
                locks = f"{lock} on {table}" + (f" and {table_lock(ctx, ref)} on {ref}" if ref else "")
                fix = fk_fix(table, name, ref, cols, ref_cols)
                blocked = "writes to both tables wait"
            else:
                expr = sql_text(con.raw_expr)
                what = f"CHECK {name} ({expr})"
                locks = f"{lock} on {table}"
                fix = check_fix(table, name, expr)
                blocked = f"{'reads and writes' if lock == 'ACCESS EXCLUSIVE' else 'writes'} wait"
            if column:
                what += f" declared inline with ADD COLUMN {column}"
                fix = lines(f"# add the column {column} first without the constraint, then:", fix)
            yield self.finding(
                ctx, f"{what} is validated in place: the trace shows a full scan of "
                     f"{', '.join(scanned)} while holding {locks}; {blocked} for the scan.",
                table=table, fix=fix, relations=[ref] if ref else None)
