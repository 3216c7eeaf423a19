from ._common import failed, table_commands, table_lock
from .base import PG_DOCS, Rule, register

WHAT = {
    "AT_SetLogged": "SET LOGGED",
    "AT_SetUnLogged": "SET UNLOGGED",
    "AT_SetTableSpace": "SET TABLESPACE",
    "AT_SetAccessMethod": "SET ACCESS METHOD",
}


@register
class SetTableLoggedTablespaceAccessMethod(Rule):
    id = "set-table-logged-tablespace-access-method"
    title = "ALTER TABLE SET LOGGED / UNLOGGED / TABLESPACE / ACCESS METHOD"
    severity = "error"
    docs = PG_DOCS + "sql-altertable.html#SQL-ALTERTABLE-DESC-SET-TABLESPACE"
    rationale = (
        "SET LOGGED, SET UNLOGGED, SET TABLESPACE and SET ACCESS METHOD copy the whole table (and for "
        "a tablespace move, its indexes) into a new file under ACCESS EXCLUSIVE: every query waits for "
        "the copy, and SET LOGGED writes all of it to the WAL. Create a new table with the wanted "
        "properties, copy the rows in batches while a trigger mirrors writes, and swap the names in "
        "one short transaction; or schedule a maintenance window."
    )
    bad_example = 'op.execute("ALTER TABLE events SET LOGGED")'
    good_example = ("# create events_new with the wanted persistence/tablespace/access method, copy rows in\n"
                    "# batches while a trigger mirrors writes, then swap names in one short transaction")

    def check(self, ctx):
        if failed(ctx):
            return
        for table, cmd in table_commands(ctx, *WHAT):
            if not ctx.preexisting(table):
                continue
            what = WHAT[cmd.subtype.name] + (f" {cmd.name}" if cmd.name else "")
            yield self.finding(
                ctx, f"ALTER TABLE {table} {what} copies the whole table under {table_lock(ctx, table)}: "
                     f"every query on {table} waits for the copy.", table=table,
                fix=self.good_example.replace("events", table.split(".")[-1]))
