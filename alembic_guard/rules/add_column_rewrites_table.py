from ..sql import type_name
from ._common import column_constraints, failed, sql_text, table_commands, table_lock
from .base import PG_DOCS, Rule, register
from ..recipes.backfill import batched_backfill
from .render import (LOCK_TIMEOUT, add_column, execute, lines, not_null_via_check, q,
                     table_args)

SERIAL_TYPES = ("serial", "serial2", "serial4", "serial8", "smallserial", "bigserial")


def rewrite_cause(coldef) -> tuple[str, str | None]:
    """``(why, default expression)`` for an added column that rewrote its table."""
    cons = column_constraints(coldef)
    tname = type_name(coldef.typeName).lower()
    for kind, _con in cons:
        if kind == "GENERATED":
            return "it is GENERATED ALWAYS AS (…) STORED: every row's value is computed and stored", None
        if kind == "IDENTITY":
            return "it is an IDENTITY column: every existing row gets its own sequence value", None
    if tname in SERIAL_TYPES:
        return f"it is {tname}: every existing row gets its own nextval() value", None
    if coldef.identity and coldef.identity != "\x00":
        return "it is an IDENTITY column: every existing row gets its own sequence value", None
    for kind, con in cons:
        if kind == "DEFAULT" and con.raw_expr is not None:
            expr = sql_text(con.raw_expr)
            return f"its DEFAULT {expr} is volatile: every existing row gets its own value", expr
    return "PostgreSQL had to rewrite every row to add it", None


@register
class AddColumnRewritesTable(Rule):
    id = "add-column-rewrites-table"
    title = "ADD COLUMN that rewrites the whole table"
    severity = "error"
    docs = PG_DOCS + "sql-altertable.html#SQL-ALTERTABLE-NOTES"
    rationale = (
        "Since PostgreSQL 11, ADD COLUMN with no default or a non-volatile default (a constant, now(), "
        "'{}'::jsonb) only updates the catalog. A volatile default (gen_random_uuid(), random(), "
        "clock_timestamp()), a GENERATED … STORED column, serial/bigserial or an IDENTITY column "
        "needs a value per existing row, so PostgreSQL rewrites the table and all its indexes "
        "under ACCESS EXCLUSIVE: reads and writes wait for the whole rewrite (10-20 s per million "
        "rows). Add the column nullable, set the default for new rows, backfill in batches, then "
        "add NOT NULL through a validated CHECK."
    )
    bad_example = ('op.add_column("orders", sa.Column("public_id", sa.Uuid, nullable=False,\n'
                   '                                  server_default=sa.text("gen_random_uuid()")))')
    good_example = lines(
        LOCK_TIMEOUT,
        'op.add_column("orders", sa.Column("public_id", sa.Uuid, nullable=True))',
        'op.alter_column("orders", "public_id", server_default=sa.text("gen_random_uuid()"))',
        "# then, outside the transaction, backfill existing rows in batches and add NOT NULL",
        "# through CHECK (public_id IS NOT NULL) NOT VALID → VALIDATE → SET NOT NULL",
    )

    def check(self, ctx):
        if failed(ctx):
            return
        for table, cmd in table_commands(ctx, "AT_AddColumn"):
            if not ctx.preexisting(table) or not ctx.rewritten(table):
                continue
            coldef = cmd.def_
            col = coldef.colname
            why, default = rewrite_cause(coldef)
            tname = type_name(coldef.typeName)
            lock = table_lock(ctx, table)
            steps = [LOCK_TIMEOUT,
                     add_column(table, col, tname)]
            if default:
                steps.append(f"op.alter_column({table_args(table)}, {col!r}, server_default=sa.text({default!r}))")
                value = default
            elif tname.lower() in SERIAL_TYPES or "IDENTITY" in why:
                seq = f"{table.split('.')[-1]}_{col}_seq"
                steps.insert(1, execute(f"CREATE SEQUENCE IF NOT EXISTS {q(seq)}"))
                steps.append(f"op.alter_column({table_args(table)}, {col!r}, "
                             f"server_default=sa.text(\"nextval('{seq}')\"))")
                steps.append(execute(f"ALTER SEQUENCE {q(seq)} OWNED BY {q(table)}.{q(col)}"))
                value = f"nextval('{seq}')"
            else:
                steps.append("# a BEFORE INSERT OR UPDATE trigger computes the value for new rows")
                value = "<expression>"
            fix = lines(*steps,
                        "# existing rows: batched, outside the migration transaction",
                        batched_backfill(table, col, value),
                        not_null_via_check(table, col, pg_version=ctx.server_version_num))
            yield self.finding(
                ctx, f"ADD COLUMN {col} rewrote {table} and its indexes under {lock}: {why}. "
                     f"Reads and writes on {table} wait for the whole rewrite.",
                table=table, fix=fix)
