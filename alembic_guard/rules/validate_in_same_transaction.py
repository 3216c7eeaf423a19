from ._common import failed, held_from_before, table_commands, where
from .base import PG_DOCS, Rule, register
from .recipe_hint import example, hint_for


@register
class ValidateInSameTransaction(Rule):
    id = "validate-in-same-transaction"
    title = "VALIDATE CONSTRAINT in the transaction that still holds a write-blocking lock"
    severity = "error"
    docs = PG_DOCS + "sql-altertable.html#SQL-ALTERTABLE-DESC-VALIDATE-CONSTRAINT"
    rationale = (
        "ADD … NOT VALID followed by VALIDATE CONSTRAINT only helps when a COMMIT separates them: locks "
        "are held until the end of the transaction, so a VALIDATE in the same transaction scans the "
        "table while the ACCESS EXCLUSIVE (CHECK) or SHARE ROW EXCLUSIVE (FOREIGN KEY) lock taken by "
        "the ADD is still held, exactly as if the constraint had been added without NOT VALID. Run "
        "VALIDATE in op.get_context().autocommit_block() or in a later revision."
    )
    bad_example, good_example = example("check-constraint", 2)

    def check(self, ctx):
        if failed(ctx):
            return
        for table, cmd in table_commands(ctx, "AT_ValidateConstraint"):
            if not ctx.preexisting(table):
                continue
            held = held_from_before(ctx)
            mine = [lk for lk in held if lk.relation == table]
            held = mine + [lk for lk in held if lk.relation != table]
            if not held:
                continue
            lk = held[0]
            fix = hint_for(self.id, ctx)
            gained = ("NOT VALID gained nothing" if lk.relation == table
                      else f"{lk.relation} stays blocked for the whole scan")
            yield self.finding(
                ctx, f"VALIDATE CONSTRAINT {cmd.name} scans {table} while this transaction still holds "
                     f"{lk.mode} on {lk.relation} (taken at {where(lk, ctx)}): {gained}. "
                     f"Commit first: validate in an autocommit block or a later revision.",
                table=table, fix=fix)
