"""SET NOT NULL on an existing table → a validated CHECK (col IS NOT NULL) first, so it does not scan.

ALTER COLUMN … SET NOT NULL takes ACCESS EXCLUSIVE and scans the whole table to prove there is no
NULL: every query waits for the scan. Since PostgreSQL 12 the scan is skipped when a validated
``CHECK (col IS NOT NULL)`` proves it: add that CHECK NOT VALID (instant), VALIDATE it in a
transaction of its own (SHARE UPDATE EXCLUSIVE: reads and writes go on), SET NOT NULL (instant now),
drop the CHECK. PostgreSQL 18 has the same in one constraint: ``ADD CONSTRAINT … NOT NULL col NOT
VALID``, then VALIDATE CONSTRAINT.
Source: PostgreSQL docs, ALTER TABLE, "SET/DROP NOT NULL" and "ADD table_constraint [ NOT VALID ]".
"""

from __future__ import annotations

import copy

from pglast import ast
from pglast.enums import AlterTableType, ConstrType

from ..ops.set_not_null_safely import helper_check_name, native_constraint_name
from ..pg_versions import NOT_NULL_NOT_VALID, SET_NOT_NULL_USES_CHECK
from ..rewrite.plans import PlanStep
from ..rewrite.opcall import Call
from ..rewrite.outcome import Outcome
from ..rewrite.sqlrewrite import SqlRewrite, SqlStep, deparse, render_steps
from ..rewrite.steps._common import op_call, qualified, table_of
from ..sql.parse import quote_ident, range_name
from ._alter_table import around, commands, find_command, hint_of, statement, validate_step
from .base import Example, Hint, Recipe, Refusal

SETUP = 'op.execute("CREATE TABLE orders (id bigint PRIMARY KEY, status varchar(20))")'


def not_null_steps(relation: ast.RangeVar, column: str) -> list[SqlStep]:
    """The statements that make ``column`` of ``relation`` NOT NULL without a scan under ACCESS
    EXCLUSIVE (the helper CHECK is named as op.set_not_null_safely names it, so a rerun finds it)."""
    rel = deparse(relation)
    check = helper_check_name(relation.relname, column)
    add = statement(f"ALTER TABLE {rel} ADD CONSTRAINT {quote_ident(check)} CHECK ({quote_ident(column)} IS NOT NULL) "
                    "NOT VALID")
    return [SqlStep(deparse(add)), validate_step(relation, check),
            SqlStep(deparse(statement(f"ALTER TABLE {rel} ALTER COLUMN {quote_ident(column)} SET NOT NULL"))),
            SqlStep(deparse(statement(f"ALTER TABLE {rel} DROP CONSTRAINT {quote_ident(check)}")))]


def native_note(relation: ast.RangeVar, column: str) -> str:
    """The PostgreSQL 18 form, for the hint."""
    name = quote_ident(native_constraint_name(relation.relname, column))
    return (f"PostgreSQL 18+ can also do it with one constraint: ALTER TABLE {deparse(relation)} ADD CONSTRAINT "
            f"{name} NOT NULL {quote_ident(column)} NOT VALID, then VALIDATE CONSTRAINT {name} outside the transaction")


class SetNotNull(Recipe):
    id = "set-not-null"
    title = "Make a column NOT NULL without a scan under ACCESS EXCLUSIVE"
    rules = ("set-not-null-scans-table",)
    ops = ("alter_column",)
    nodes = (ast.AlterTableStmt,)
    docs = "https://www.postgresql.org/docs/current/sql-altertable.html#SQL-ALTERTABLE-DESC-SET-DROP-NOT-NULL"
    rationale = __doc__.split("\n\n", 1)[1].rsplit("Source:", 1)[0]
    examples = (
        Example(
            title="op.alter_column(..., nullable=False)",
            setup=SETUP,
            bad='op.alter_column("orders", "status", nullable=False, existing_type=sa.String(20))',
            good=('import alembic_guard.ops  # noqa: F401  (registers op.set_not_null_safely & co.)\n'
                  'op.set_not_null_safely("orders", "status")')),
        Example(
            title="raw SQL",
            setup=SETUP,
            bad='op.execute("ALTER TABLE orders ALTER COLUMN status SET NOT NULL")',
            good=('op.execute("SET LOCAL lock_timeout = \'2s\'")\n'
                  'op.execute("ALTER TABLE orders ADD CONSTRAINT orders_status_not_null_chk '
                  'CHECK (status IS NOT NULL) NOT VALID")\n'
                  'with op.get_context().autocommit_block():\n'
                  '    op.execute("ALTER TABLE orders VALIDATE CONSTRAINT orders_status_not_null_chk")\n'
                  'op.execute("SET LOCAL lock_timeout = \'2s\'")\n'
                  'op.execute("ALTER TABLE orders ALTER COLUMN status SET NOT NULL")\n'
                  'op.execute("ALTER TABLE orders DROP CONSTRAINT orders_status_not_null_chk")')),
    )

    def rewrite_sql(self, node, facts) -> SqlRewrite | None:
        table = range_name(node.relation)
        if not facts.preexisting(table):
            return None
        i = find_command(node, lambda c: c.subtype == AlterTableType.AT_SetNotNull)
        if i is not None:
            column = commands(node)[i].name
            if not SET_NOT_NULL_USES_CHECK.on(facts.server_version_num):
                raise Refusal(
                    f"before {SET_NOT_NULL_USES_CHECK.label()} SET NOT NULL scans {table} under ACCESS EXCLUSIVE "
                    "even when a validated CHECK proves it", plan=[PlanStep(
                        f"keep a validated CHECK ({column} IS NOT NULL) instead of the NOT NULL attribute "
                        "(the same guarantee; VALIDATE takes SHARE UPDATE EXCLUSIVE)",
                        render_steps(not_null_steps(node.relation, column)[:2]))])
            return SqlRewrite(what=f"SET NOT NULL on {table}.{column} → CHECK ({column} IS NOT NULL) NOT VALID, "
                                   "VALIDATE in its own transaction, SET NOT NULL (no scan), DROP the CHECK",
                              steps=around(node, i, not_null_steps(node.relation, column)))
        i = find_command(node, lambda c: c.subtype == AlterTableType.AT_AddConstraint
                         and isinstance(c.def_, ast.Constraint) and c.def_.contype == ConstrType.CONSTR_NOTNULL
                         and not c.def_.skip_validation)
        if i is None:
            return None
        add = copy.deepcopy(node)
        add.cmds = (commands(add)[i],)
        con = add.cmds[0].def_
        if not con.conname:
            raise Refusal("the NOT NULL constraint has no name: name it so that it can be validated in a second step")
        con.skip_validation = True
        con.initially_valid = False
        return SqlRewrite(what=f"ADD CONSTRAINT {con.conname} NOT NULL on {table} → NOT VALID, then VALIDATE "
                               "CONSTRAINT in its own transaction (PostgreSQL 18)",
                          steps=around(node, i, [SqlStep(deparse(add)), validate_step(node.relation, con.conname)]))

    def hint(self, node, facts) -> Hint | None:
        try:
            rw = self.rewrite_sql(copy.deepcopy(node), facts)
        except Refusal as exc:
            return Hint(refused=exc.reason, plan=exc.plan)
        if rw is None:
            return None
        i = find_command(node, lambda c: c.subtype == AlterTableType.AT_SetNotNull)
        notes = [native_note(node.relation, commands(node)[i].name)] \
            if i is not None and NOT_NULL_NOT_VALID.on(facts.server_version_num) else []
        return hint_of(rw.steps, *notes)

    def rewrite_op(self, call: Call, facts) -> Outcome | None:
        table, schema = table_of(call)
        column = call.get("column_name")
        if table is None or not facts.preexisting(qualified(table, schema)) or call.get("nullable") is not False:
            return None
        if call.src("new_column_name") not in (None, "None"):
            return None  # a rename: the rename-column recipe's plan
        if call.src("type_") not in (None, "None") and facts.rewritten is not None \
                and qualified(table, schema) in facts.rewritten:
            return None  # a rewriting type change: its recipe's plan
        others = {k: v for k, v in call.args.items()
                  if k not in ("table_name", "column_name", "schema", "nullable") and not k.startswith("existing_")}
        safe = op_call("set_not_null_safely", call.src("table_name"), call.src("column_name"),
                       schema=call.src("schema"))
        if others:
            rest = [v.source for k, v in call.args.items() if k in ("table_name", "column_name")]
            kw = {k: v.source for k, v in call.args.items() if k not in ("table_name", "column_name", "nullable")}
            kw.update({k: v.source for k, v in call.kwargs.items()})
            code = op_call("alter_column", *rest, **kw) + "\n" + safe
        else:
            code = safe
        return Outcome("set-not-null-via-check",
                       f"SET NOT NULL on {table}.{column} → op.set_not_null_safely (validated constraint first, "
                       "so SET NOT NULL does not scan under ACCESS EXCLUSIVE)", code=code)
