"""A value added to an enum type by ALTER TYPE … ADD VALUE used before the transaction that added it
committed: PostgreSQL refuses it (SQLSTATE 55P04), the revision fails. The trace sees the failure; this
rule names its cause, on the ADD VALUE (the statement to move), and the fix (recipes/enum_add_value.py)."""

from pglast import ast

from ..pg_versions import ADD_ENUM_VALUE_IN_TRANSACTION, VersionRange
from ..sql import parse_one
from ._common import names_of
from .base import PG_DOCS, Rule, register
from .recipe_hint import example, hint_for
from .render import autocommit_block

UNSAFE_NEW_ENUM_VALUE = "55P04"  # unsafe_new_enum_value_usage (PostgreSQL errcodes.txt)


def _same_transaction(a, b) -> bool:
    return a.in_transaction and b.in_transaction and (not a.observation.xact or not b.observation.xact
                                                      or a.observation.xact == b.observation.xact)


def _adds(st) -> ast.AlterEnumStmt | None:
    node = parse_one(st.sql)
    ok = isinstance(node, ast.AlterEnumStmt) and node.newVal and not node.oldVal and st.observation.error is None
    return node if ok else None


def _refused(ctx, st) -> bool:
    return st.observation.sqlstate == UNSAFE_NEW_ENUM_VALUE and _same_transaction(ctx.statement, st)


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
        "PostgreSQL 12 ADD VALUE cannot run in a transaction block at all). Reported on the ADD VALUE "
        "when a later statement of its transaction was refused for it (the trace saw the failure). Add "
        "the value in an autocommit_block() (it commits at once), or in a revision of its own, and use "
        "it only after that."
    )
    # before 12 ADD VALUE is refused in a transaction block (25001): concurrently-in-transaction reports it
    versions = VersionRange.since(ADD_ENUM_VALUE_IN_TRANSACTION)
    bad_example, good_example = example("enum-add-value")

    def check(self, ctx):
        node = _adds(ctx.statement)
        if node is not None:
            typ, value = names_of(node.typeName), node.newVal
            for later in ctx.revision.statements[ctx.statement.index + 1:]:
                if not _same_transaction(ctx.statement, later):
                    return  # committed before it: the value was usable
                if _refused(ctx, later) and f'"{value}"' in (later.observation.error or ""):
                    at = f"line {later.line}" if later.line else "a later statement"
                    yield self.finding(
                        ctx, f"ALTER TYPE {typ} ADD VALUE {value!r} is not committed when {at} uses it: "
                             f"PostgreSQL refuses the new value until the transaction that added it commits "
                             f"(\"unsafe use of new value\", SQLSTATE 55P04), so the revision fails.",
                        fix=hint_for(self.id, ctx))
                    return
            return
        # the refused statement, when no ADD VALUE this rule can read added the value (a DO block, a
        # function): the trace still saw PostgreSQL refuse it
        if ctx.obs.sqlstate != UNSAFE_NEW_ENUM_VALUE:
            return
        if any(_adds(st) is not None for st in ctx.previous if _same_transaction(st, ctx.statement)):
            return  # reported on that ADD VALUE
        yield self.finding(
            ctx, "this statement uses a new enum value added earlier in this transaction (by a statement "
                 "read by trace only) before it is committed: PostgreSQL refuses it (\"unsafe use of new "
                 "value\", SQLSTATE 55P04) and the revision fails.",
            fix="# add the value in its own committed step, before the statements that use it:\n"
                + autocommit_block("op.execute(\"ALTER TYPE <type> ADD VALUE IF NOT EXISTS '<value>'\")"))
