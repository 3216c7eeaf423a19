"""ADD COLUMN on an existing table: without a rewrite, and never NOT NULL without a value.

Since PostgreSQL 11 ADD COLUMN with no default or a non-volatile one only changes the catalog. A
volatile default (gen_random_uuid(), clock_timestamp()), GENERATED … STORED, serial or IDENTITY needs
a value per existing row: PostgreSQL rewrites the table and its indexes under ACCESS EXCLUSIVE. The
safe form adds the column nullable (catalog only, under lock_timeout), sets the default for new rows,
backfills existing rows in keyset batches outside the transaction, then makes the column NOT NULL
through a validated constraint (no scan under ACCESS EXCLUSIVE). A NOT NULL column without a default
fails on any non-empty table and breaks the INSERTs of the running code: one revision cannot do it,
the plan adds it nullable, deploys code that writes it, backfills and then sets NOT NULL.
Source: PostgreSQL docs, ALTER TABLE, "Notes" (ADD COLUMN with a volatile DEFAULT rewrites the table).
"""

from __future__ import annotations

import copy

from pglast import ast
from pglast.enums import AlterTableType, ConstrType

from ..pg_versions import FAST_ADD_COLUMN_DEFAULT, VIRTUAL_GENERATED_COLUMNS
from ..rewrite.plans import PlanStep
from ..rewrite.sqlrewrite import SqlRewrite, SqlStep, deparse
from ..rewrite.steps._common import op_call, pystr
from ..sql.parse import quote_ident, range_name
from ._columns import (base_name, in_schema, lock_timeout_call, outcome_of, per_command_hint, sql_name,
                       statement_nodes, sync_trigger)
from .base import Example, Recipe, Refusal

SERIAL_TYPES = {"serial": "integer", "serial4": "integer", "serial2": "smallint", "smallserial": "smallint",
                "serial8": "bigint", "bigserial": "bigint"}


def added_column(node) -> ast.ColumnDef | None:
    """The column of an ``ALTER TABLE … ADD COLUMN`` with that one command, else None."""
    cmds = list(node.cmds or ()) if isinstance(node, ast.AlterTableStmt) else []
    if len(cmds) == 1 and cmds[0].subtype == AlterTableType.AT_AddColumn:
        return cmds[0].def_
    return None


def serial_type(coldef: ast.ColumnDef) -> str | None:
    """The integer type behind a serial pseudo-type (``bigserial`` → ``bigint``), else None."""
    names = [n.sval for n in coldef.typeName.names or ()]
    return SERIAL_TYPES.get(names[-1].lower()) if names and names[-1].lower() in SERIAL_TYPES else None


def fills_every_row(coldef: ast.ColumnDef) -> bool:
    """A value for every existing row comes with the column (DEFAULT, IDENTITY, GENERATED, serial)."""
    kinds = {c.contype for c in coldef.constraints or ()}
    return bool(kinds & {ConstrType.CONSTR_DEFAULT, ConstrType.CONSTR_IDENTITY, ConstrType.CONSTR_GENERATED}) \
        or serial_type(coldef) is not None


def not_null(coldef: ast.ColumnDef) -> bool:
    kinds = {c.contype for c in coldef.constraints or ()}
    return bool(coldef.is_not_null or kinds & {ConstrType.CONSTR_NOTNULL, ConstrType.CONSTR_PRIMARY})


def backfill_call(table: str, column: str, value: str, *, where: str | None = None, skip_unchanged: bool = True) -> str:
    """``op.backfill`` of one column: the backfill recipe's form (recipes/_batches.py), keyset batches on
    the primary key outside the transaction."""
    from ._batches import backfill_call as one_form

    return one_form(table, {column: value}, where=where, key=(), primary=True, volatile=not skip_unchanged)


def set_not_null_call(table: str, column: str) -> str:
    schema = table.split(".", 1)[0] if "." in table else None
    return op_call("set_not_null_safely", pystr(base_name(table)), pystr(column),
                   schema=pystr(schema) if schema else None)


def not_null_steps(table: str, column: str, facts) -> str:
    """The NOT NULL step of a plan: the set-not-null recipe's form when there is one, else the
    CHECK NOT VALID → VALIDATE → SET NOT NULL sequence of rules/render."""
    try:
        from . import set_not_null  # written by the set-not-null recipe

        helper = getattr(set_not_null, "not_null_code", None)
    except ImportError:
        helper = None
    if helper is not None:
        return helper(table, column, facts)
    from ..rules.render import not_null_via_check

    return not_null_via_check(table, column, pg_version=facts.server_version_num)


def nullable_add(node: ast.AlterTableStmt) -> str:
    """The ADD COLUMN of ``node`` without DEFAULT, NOT NULL, IDENTITY and GENERATED, with IF NOT
    EXISTS, serial as its integer type: what only changes the catalog."""
    node = copy.deepcopy(node)
    cmd = node.cmds[0]
    coldef = cmd.def_
    integer = serial_type(coldef)
    if integer:
        coldef.typeName = ast.TypeName(names=(ast.String(sval=integer),), typemod=-1)
    kept = [c for c in coldef.constraints or () if c.contype not in (
        ConstrType.CONSTR_DEFAULT, ConstrType.CONSTR_NOTNULL, ConstrType.CONSTR_NULL, ConstrType.CONSTR_IDENTITY,
        ConstrType.CONSTR_GENERATED)]
    coldef.constraints = tuple(kept) or None
    coldef.is_not_null = False
    coldef.identity = "\x00"
    coldef.generated = "\x00"
    cmd.missing_ok = True
    return deparse(node)


def constraint(coldef, kind):
    return next((c for c in coldef.constraints or () if c.contype == kind), None)


def virtual_add(node: ast.AlterTableStmt) -> str:
    """The ADD COLUMN of ``node`` with its GENERATED … STORED made VIRTUAL and without NOT NULL
    (a NOT NULL virtual column is checked by a scan): catalog only on PostgreSQL 18+."""
    node = copy.deepcopy(node)
    coldef = node.cmds[0].def_
    kept = []
    for c in coldef.constraints or ():
        if c.contype == ConstrType.CONSTR_GENERATED:
            c.generated_kind = "v"
        if c.contype not in (ConstrType.CONSTR_NOTNULL, ConstrType.CONSTR_NULL):
            kept.append(c)
    coldef.constraints = tuple(kept) or None
    coldef.is_not_null = False
    node.cmds[0].missing_ok = True
    return deparse(node)


def rewrite_plan(node: ast.AlterTableStmt, table: str, coldef: ast.ColumnDef, facts) -> list[PlanStep]:
    """GENERATED … STORED, IDENTITY or serial: a plain column, a trigger or sequence for new rows, a
    batched backfill for the existing ones (for GENERATED on PostgreSQL 18+, first: a VIRTUAL column)."""
    col = coldef.colname
    rel = deparse(node.relation)
    add = nullable_add(node)
    generated = constraint(coldef, ConstrType.CONSTR_GENERATED)
    if generated is not None:
        fn = f"{base_name(table)}_{col}_compute"[:63]
        computed = _prefixed(generated.raw_expr)
        plain = deparse(generated.raw_expr)
        stored = (lock_timeout_call([add]) + "\n"
                  + sync_trigger(table, fn, f"NEW.{quote_ident(col)} := {computed};") + "\n"
                  + backfill_call(table, col, plain))
        if VIRTUAL_GENERATED_COLUMNS.on(facts.server_version_num):
            # the best form the target has: VIRTUAL (PostgreSQL 18+) when the value need not be stored
            first = PlanStep(
                f"expand: when {col} need not be stored (not indexed, built-in functions only), a VIRTUAL generated "
                f"column ({VIRTUAL_GENERATED_COLUMNS.label()}): computed on read, nothing stored, catalog only; "
                f"else a plain column computed by a trigger for new rows, backfilled in batches",
                f"# VIRTUAL:\n{lock_timeout_call([virtual_add(node)])}\n# or stored:\n{stored}")
        else:
            first = PlanStep(f"expand: add {col} as a plain column, computed by a trigger for new rows, backfilled in "
                             "batches (a stored GENERATED column cannot be added without a rewrite)", stored)
        return [
            first,
            PlanStep(f"keep the trigger as the definition of {col} (or drop it once the application computes "
                     f"{col} itself)", "# no migration"),
        ]
    integer = serial_type(coldef) or deparse(coldef.typeName)
    seq = f"{base_name(table)}_{col}_seq"[:63]
    seq_sql = sql_name(in_schema(table, seq))
    steps = [f"CREATE SEQUENCE IF NOT EXISTS {seq_sql} AS {integer}", add,
             f"ALTER TABLE {rel} ALTER COLUMN {quote_ident(col)} SET DEFAULT nextval('{seq_sql}')",
             f"ALTER SEQUENCE {seq_sql} OWNED BY {rel}.{quote_ident(col)}"]
    return [
        PlanStep(f"expand: add {col} with a sequence default for new rows (no rewrite), backfill the existing "
                 "rows in batches, then NOT NULL",
                 lock_timeout_call(steps) + "\n"
                 + backfill_call(table, col, f"nextval('{seq_sql}')", where=f"{quote_ident(col)} IS NULL",
                                 skip_unchanged=False) + "\n"
                 + set_not_null_call(table, col)
                 + ("\n# IDENTITY: once NOT NULL, ALTER COLUMN … DROP DEFAULT, ADD GENERATED … AS IDENTITY and "
                    f"setval() its sequence past max({col}) in one short transaction"
                    if constraint(coldef, ConstrType.CONSTR_IDENTITY) is not None else "")),
    ]


def _prefixed(expr) -> str:
    """The generated expression with every column reference read from ``NEW`` (for the trigger): a
    generated column can only refer to columns of its own row."""
    from pglast.visitors import Visitor

    class FromNew(Visitor):
        def visit_ColumnRef(self, ancestors, node):  # noqa: N802
            fields = list(node.fields or ())
            if len(fields) == 1 and isinstance(fields[0], ast.String):
                return ast.ColumnRef(fields=(ast.String(sval="new"), fields[0]))
            return None

    wrapper = ast.ResTarget(val=copy.deepcopy(expr))
    FromNew()(wrapper)
    return deparse(wrapper.val)


def not_null_plan(node: ast.AlterTableStmt, table: str, coldef: ast.ColumnDef, facts) -> list[PlanStep]:
    col = coldef.colname
    add = nullable_add(node)
    with_constant = copy.deepcopy(node)
    with_constant.cmds[0].def_.constraints = tuple(coldef.constraints or ()) + (
        ast.Constraint(contype=ConstrType.CONSTR_DEFAULT, raw_expr=ast.A_Const(val=ast.String(sval="<constant>"))),)
    return [
        PlanStep(f"expand: add {col} nullable (catalog only)",
                 lock_timeout_call([add])
                 + ("\n# or, when one constant fits every existing row, this alone (catalog only since "
                    f"PostgreSQL {FAST_ADD_COLUMN_DEFAULT.since}):\n# {lock_timeout_call([deparse(with_constant)])}"
                    if FAST_ADD_COLUMN_DEFAULT.on(facts.server_version_num) else "")),
        PlanStep(f"deploy: the application writes {col} in every INSERT", "# no migration"),
        PlanStep(f"backfill {col} and make it NOT NULL",
                 backfill_call(table, col, "<value>", where=f"{quote_ident(col)} IS NULL") + "\n"
                 + not_null_steps(table, col, facts)),
    ]


class AddColumn(Recipe):
    id = "add-column"
    title = "Add a column to an existing table without a rewrite and without failing on existing rows"
    rules = ("add-column-rewrites-table", "add-column-not-null-without-default")
    ops = ("add_column",)
    nodes = (ast.AlterTableStmt,)
    docs = "https://www.postgresql.org/docs/current/sql-altertable.html#SQL-ALTERTABLE-NOTES"
    rationale = __doc__.split("\n\n", 1)[1].rsplit("Source:", 1)[0]
    examples = (
        Example(
            title="a volatile default: nullable column, default for new rows, batched backfill, NOT NULL",
            rule="add-column-rewrites-table",
            setup='op.execute("CREATE TABLE orders (id bigint PRIMARY KEY, status text)")',
            bad=('op.add_column("orders", sa.Column("public_id", sa.Uuid(), nullable=False,\n'
                 '                                  server_default=sa.text("gen_random_uuid()")))'),
            good=('import alembic_guard.ops  # noqa: F401  (registers op.backfill & co.)\n'
                  'op.run_with_lock_timeout([\n'
                  '    "ALTER TABLE orders ADD COLUMN IF NOT EXISTS public_id uuid",\n'
                  '    "ALTER TABLE orders ALTER COLUMN public_id SET DEFAULT gen_random_uuid()",\n'
                  '])\n'
                  'op.backfill("orders", {"public_id": "gen_random_uuid()"}, where="public_id IS NULL",\n'
                  '            skip_unchanged=False)\n'
                  'op.set_not_null_safely("orders", "public_id")')),
        Example(
            title="NOT NULL without a default: add nullable, deploy, backfill, then NOT NULL",
            rule="add-column-not-null-without-default", fixed="plan",
            setup='op.execute("CREATE TABLE orders (id bigint PRIMARY KEY, status text)")',
            bad='op.add_column("orders", sa.Column("region", sa.Text(), nullable=False))',
            good=('op.execute("SET LOCAL lock_timeout = \'2s\'")\n'
                  'op.add_column("orders", sa.Column("region", sa.Text(), nullable=False, server_default="eu"))')),
        Example(
            title="bigserial: a sequence default for new rows and a batched backfill instead of a rewrite",
            rule="add-column-rewrites-table", fixed="plan",
            setup='op.execute("CREATE TABLE orders (id bigint PRIMARY KEY, status text)")',
            bad='op.execute("ALTER TABLE orders ADD COLUMN seq bigserial")',
            good=('import alembic_guard.ops  # noqa: F401  (registers op.backfill & co.)\n'
                  'op.run_with_lock_timeout([\n'
                  '    "CREATE SEQUENCE IF NOT EXISTS orders_seq_seq AS bigint",\n'
                  '    "ALTER TABLE orders ADD COLUMN IF NOT EXISTS seq bigint",\n'
                  '    "ALTER TABLE orders ALTER COLUMN seq SET DEFAULT nextval(\'orders_seq_seq\')",\n'
                  '    "ALTER SEQUENCE orders_seq_seq OWNED BY orders.seq",\n'
                  '])\n'
                  'op.backfill("orders", {"seq": "nextval(\'orders_seq_seq\')"}, where="seq IS NULL",\n'
                  '            skip_unchanged=False)\n'
                  'op.set_not_null_safely("orders", "seq")')),
    )

    def hint(self, node, facts):
        return per_command_hint(self, node, facts)

    def rewrite_sql(self, node, facts) -> SqlRewrite | None:
        coldef = added_column(node)
        table = range_name(node.relation) if coldef is not None else None
        if coldef is None or not facts.preexisting(table):
            return None
        others = {c.contype for c in coldef.constraints or ()} - {
            ConstrType.CONSTR_DEFAULT, ConstrType.CONSTR_NOTNULL, ConstrType.CONSTR_NULL,
            ConstrType.CONSTR_IDENTITY, ConstrType.CONSTR_GENERATED}
        if others:
            return None  # an inline CHECK / UNIQUE / PRIMARY KEY / REFERENCES: the constraint recipes' case
        col = coldef.colname
        default = constraint(coldef, ConstrType.CONSTR_DEFAULT)
        by_row = constraint(coldef, ConstrType.CONSTR_GENERATED) is not None or \
            constraint(coldef, ConstrType.CONSTR_IDENTITY) is not None or serial_type(coldef) is not None
        rewrites = table in facts.rewritten if facts.rewritten is not None else None
        if by_row and rewrites is not False:
            raise Refusal(f"ADD COLUMN {col} rewrites {table}: every existing row needs its own value "
                          "(GENERATED STORED, IDENTITY or serial)", rewrite_plan(node, table, coldef, facts))
        if default is not None:
            value = deparse(default.raw_expr)
            volatile = rewrites if rewrites is not None else facts.volatile(value)
            if not volatile:
                return None  # catalog only: the lock_timeout fallback wraps it
            rel = deparse(node.relation)
            add = nullable_add(node)
            set_default = f"ALTER TABLE {rel} ALTER COLUMN {quote_ident(col)} SET DEFAULT {value}"
            steps = [SqlStep(add + "; " + set_default, code=lock_timeout_call([add, set_default])),
                     SqlStep(f"UPDATE {rel} SET {quote_ident(col)} = {value} (batched)",
                             code=backfill_call(table, col, value, where=f"{quote_ident(col)} IS NULL",
                                                skip_unchanged=False))]
            if not_null(coldef):
                steps.append(SqlStep(f"ALTER TABLE {rel} ALTER COLUMN {quote_ident(col)} SET NOT NULL",
                                     code=set_not_null_call(table, col)))
            return SqlRewrite(
                what=f"ADD COLUMN {table}.{col} DEFAULT {value} (volatile: rewrites {table}) → nullable column + "
                     "default for new rows + batched backfill" + (" + NOT NULL via a validated constraint"
                                                                  if not_null(coldef) else ""), steps=steps)
        if not_null(coldef):
            raise Refusal(f"a NOT NULL column without a default ({table}.{col}) fails on a non-empty table and "
                          "breaks inserts of the running code; it needs a backfill value",
                          not_null_plan(node, table, coldef, facts))
        return None

    def rewrite_op(self, call, facts):
        node = statement_nodes(facts, ast.AlterTableStmt, lambda n: added_column(n) is not None)
        if node is None:
            return None
        coldef = added_column(node)
        col = coldef.colname
        table = range_name(node.relation)
        kind = ("add-column-volatile-default" if constraint(coldef, ConstrType.CONSTR_DEFAULT) is not None else
                "add-not-null-column" if not fills_every_row(coldef) else "add-column-rewrites-table")
        return outcome_of(self, node, facts, kind, f"ADD COLUMN {table}.{col}")
