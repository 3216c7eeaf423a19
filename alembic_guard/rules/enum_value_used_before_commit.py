"""A value added to an enum type by ALTER TYPE … ADD VALUE used before the transaction that added it
committed: PostgreSQL refuses it (SQLSTATE 55P04), the revision fails. The trace sees the failure; this
rule names its cause and the fix."""

from pglast import ast

from ._common import names_of
from .base import PG_DOCS, Rule, register
from .render import autocommit_block, execute, lines

UNSAFE_NEW_ENUM_VALUE = "55P04"  # unsafe_new_enum_value_usage (PostgreSQL errcodes.txt)


def _added_value(ctx) -> tuple[str, str, int | None] | None:
    """``(type, value, line)`` of the last ALTER TYPE … ADD VALUE this revision ran in the transaction
    of the failing statement; None when no parsed statement did (a DO block, a function). Revisions
    are traced each in its own transaction (capture/per_revision.py), so it is always this one's."""
    from ..sql import parse_one

    for st in reversed(ctx.previous):
        node = parse_one(st.sql)
        if isinstance(node, ast.AlterEnumStmt) and node.newVal and st.observation.error is None \
                and st.in_transaction and (not st.observation.xact or st.observation.xact == ctx.obs.xact):
            return names_of(node.typeName), node.newVal, st.line
    return None


@register
class EnumValueUsedBeforeCommit(Rule):
    id = "enum-value-used-before-commit"
    title = "New enum value used in the transaction that added it"
    severity = "error"
    docs = PG_DOCS + "sql-altertype.html#SQL-ALTERTYPE-NOTES"
    rationale = (
        "ALTER TYPE … ADD VALUE takes no lock on the tables using the type, but since PostgreSQL 12, "
        "where it may run inside a transaction block, the new value cannot be used until that transaction "
        "has committed: an INSERT, UPDATE, DEFAULT or CHECK that uses it fails with \"unsafe use of new "
        "value … of enum type\" (SQLSTATE 55P04), so the revision fails as soon as it runs (before "
        "PostgreSQL 12 ADD VALUE cannot run in a transaction block at all). Add the value in an "
        "autocommit_block() (it commits at once), or in a revision of its own with "
        "transaction_per_migration, and use it only after that."
    )
    bad_example = lines(execute("ALTER TYPE order_status ADD VALUE 'refunded'"),
                        execute("UPDATE orders SET status = 'refunded' WHERE refund_id IS NOT NULL"))
    good_example = lines(autocommit_block(execute("ALTER TYPE order_status ADD VALUE IF NOT EXISTS 'refunded'")),
                         execute("UPDATE orders SET status = 'refunded' WHERE refund_id IS NOT NULL"))

    def check(self, ctx):
        if ctx.obs.sqlstate != UNSAFE_NEW_ENUM_VALUE:
            return
        added = _added_value(ctx)
        if added is None:
            # added by a statement the parser does not read (a DO block, a function): the trace still
            # saw the refusal
            where = "it was added earlier in this transaction (by a statement read by trace only)"
            fix = ("# add the value in its own committed step, before the statements that use it:\n"
                   + autocommit_block("op.execute(\"ALTER TYPE <type> ADD VALUE IF NOT EXISTS '<value>'\")"))
            what = "a new enum value"
        else:
            typ, value, line = added
            where = f"ALTER TYPE {typ} ADD VALUE {value!r} at line {line} has not committed yet" if line else \
                f"ALTER TYPE {typ} ADD VALUE {value!r} earlier in this transaction has not committed yet"
            from .render import q

            add_sql = f"ALTER TYPE {q(typ)} ADD VALUE IF NOT EXISTS '{value}'"
            fix = lines("# commit the new value before using it (autocommit_block commits at once):",
                        autocommit_block(execute(add_sql)),
                        "# … then the statements that use it, as before")
            what = f"the new value {value!r} of enum type {typ}"
        yield self.finding(
            ctx, f"this statement uses {what} before it is committed: {where}; PostgreSQL refuses it "
                 f"(\"unsafe use of new value\", SQLSTATE 55P04) and the revision fails.", fix=fix)
