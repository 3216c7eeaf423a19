from ..sql import type_name
from ._common import failed, table_commands, table_lock
from .base import PG_DOCS, Rule, register
from .recipe_hint import example, hint_for
from .render import LOCK_TIMEOUT, execute, lines


@register
class AlterColumnTypeRewrites(Rule):
    id = "alter-column-type-rewrites"
    title = "ALTER COLUMN TYPE that rewrites or scans the table"
    severity = "error"
    docs = PG_DOCS + "sql-altertable.html#SQL-ALTERTABLE-NOTES"
    rationale = (
        "ALTER COLUMN … TYPE holds ACCESS EXCLUSIVE and, unless the old type is binary-coercible to the "
        "new one (varchar(n) → larger varchar or text, numeric precision up with the same scale), "
        "rewrites the table and rebuilds every index (int → bigint: ~20 s per million rows with a few "
        "indexes); some changes only scan. Reads and writes wait throughout. Use expand/contract: "
        "a new column, a trigger for dual writes, a batched backfill, concurrent indexes, a swap of "
        "names in one short transaction, and dropping the old column later. Binary-coercible changes "
        "are instant and not reported."
    )
    bad_example, good_example = example("change-type")

    def check(self, ctx):
        if failed(ctx):
            return
        for table, cmd in table_commands(ctx, "AT_AlterColumnType"):
            if not ctx.preexisting(table):
                continue
            column = cmd.name
            new_type = type_name(cmd.def_.typeName)
            lock = table_lock(ctx, table)
            if ctx.rewritten(table):
                what = f"rewrote {table} and rebuilt its indexes"
            elif ctx.scanned(table):
                what = f"scanned all of {table}"
            else:
                if new_type.lower() in ("timestamptz", "timestamp with time zone") and not _sets_timezone(ctx):
                    f = self.finding(
                        ctx, f"ALTER COLUMN {column} TYPE {new_type} on {table} did not rewrite on the shadow, "
                             f"whose TimeZone is UTC; from timestamp without time zone PostgreSQL rewrites "
                             f"the table when the session TimeZone is not UTC, and production's session "
                             f"TimeZone is not known here. Run it with SET LOCAL TimeZone = 'UTC' if the "
                             f"stored values are UTC.",
                        table=table, severity="warning",
                        fix=lines(LOCK_TIMEOUT, execute("SET LOCAL TimeZone = 'UTC'"), execute(ctx.sql)))
                    f.unseen = True  # whether production rewrites depends on a setting the shadow lacks
                    yield f
                continue  # binary-coercible: catalog only
            yield self.finding(
                ctx, f"ALTER COLUMN {column} TYPE {new_type} {what} under {lock}: reads and writes on "
                     f"{table} wait for all of it.", table=table,
                fix=hint_for(self.id, ctx))


def _sets_timezone(ctx) -> bool:
    """The revision set TimeZone to UTC earlier in the statement's transaction (SET or SET LOCAL, the
    last setting wins; RESET is production's default, unknown here): production then runs it as the
    shadow did (PostgreSQL 12+ skips the rewrite only when the session TimeZone is UTC, "ALTER TABLE"
    in the docs)."""
    from pglast import ast

    from ..sql.parse import parse_all

    utc = False
    for st in ctx.previous:
        if st.observation.xact != ctx.obs.xact:
            continue
        for node in parse_all(st.sql) or ():
            if isinstance(node, ast.VariableSetStmt) and (node.name or "").lower() == "timezone":
                args = node.args or ()
                utc = (len(args) == 1 and isinstance(args[0], ast.A_Const) and isinstance(args[0].val, ast.String)
                       and args[0].val.sval.upper() == "UTC")
    return utc
