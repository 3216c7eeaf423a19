from ._common import failed, table_commands, table_lock
from .base import PG_DOCS, Rule, register


@register
class ExclusionConstraint(Rule):
    id = "exclusion-constraint"
    title = "ADD EXCLUDE constraint on an existing table"
    severity = "error"
    docs = PG_DOCS + "sql-altertable.html#SQL-ALTERTABLE-DESC-ADD-TABLE-CONSTRAINT"
    rationale = (
        "ADD CONSTRAINT … EXCLUDE builds its index and checks every row while holding ACCESS EXCLUSIVE "
        "on the table. Unlike UNIQUE there is no online path: USING INDEX does not accept exclusion "
        "constraints and NOT VALID is not supported for them. Build a new table with the constraint "
        "and copy the data (dual writes, then swap), or schedule a maintenance window."
    )
    bad_example = 'op.create_exclude_constraint("ex_bookings_room_during", "bookings",\n' \
                  '                             ("room_id", "="), ("during", "&&"), using="gist")'
    good_example = (
        "# no online path: create bookings_new with the constraint, copy rows in batches while a\n"
        "# trigger mirrors writes, then swap the names in one short transaction (lock_timeout set)")

    def check(self, ctx):
        if failed(ctx):
            return
        for table, cmd in table_commands(ctx, "AT_AddConstraint"):
            con = cmd.def_
            if con.contype.name != "CONSTR_EXCLUSION" or not ctx.preexisting(table):
                continue
            name = con.conname or f"{table.split('.')[-1]}_excl"
            yield self.finding(
                ctx, f"EXCLUDE constraint {name} builds and checks its index on existing table {table} under "
                     f"{table_lock(ctx, table)}; every query on {table} waits, and there is no "
                     f"NOT VALID / USING INDEX way around it.",
                table=table, fix=self.good_example.replace("bookings", table.split(".")[-1]))
