"""DROP DEFAULT / DROP IDENTITY on a column the running code may rely on: a contract step of
expand/contract, to ship in a release after the code that stopped relying on the default."""

from pglast import ast

from ..sql import parse_one, range_name, subtype
from ._common import failed, table_commands
from .base import PG_DOCS, Rule, register
from .render import LOCK_TIMEOUT, execute, lines, q


def _is_drop_default(cmd) -> bool:
    # ALTER COLUMN … DROP DEFAULT is AT_ColumnDefault without an expression (SET DEFAULT has one)
    return subtype(cmd) == "AT_DropIdentity" or (subtype(cmd) == "AT_ColumnDefault" and cmd.def_ is None)


def column_state(ctx, table: str, column: str) -> tuple[bool, bool]:
    """``(added by this revision, NOT NULL)`` for ``table.column`` right before this statement: the
    catalog when the revision started (TableFacts), then the revision's earlier ADD COLUMN and SET /
    DROP NOT NULL in the order they ran (an IDENTITY column is NOT NULL)."""
    tf = ctx.table(table)
    new = tf is None or column not in tf.columns
    not_null = bool(tf and column in tf.not_null)
    for st in ctx.previous:
        node = parse_one(st.sql)
        if st.observation.error or not isinstance(node, ast.AlterTableStmt) or range_name(node.relation) != table:
            continue
        for cmd in node.cmds or ():
            sub = subtype(cmd)
            if sub == "AT_AddColumn" and cmd.def_.colname == column:
                from ..recipes.add_column import not_null as declared_not_null

                new, not_null = True, declared_not_null(cmd.def_) or any(
                    c.contype.name == "CONSTR_IDENTITY" for c in cmd.def_.constraints or ())
            elif sub == "AT_SetNotNull" and cmd.name == column:
                not_null = True
            elif sub == "AT_DropNotNull" and cmd.name == column:
                not_null = False
    return new, not_null


def _restored(ctx, table: str, column: str):
    """A later statement of the same transaction that gives the column a default (SET DEFAULT, ADD
    IDENTITY) again: other sessions never see it without one (the ACCESS EXCLUSIVE is held until
    COMMIT), as in the enum swap DROP DEFAULT → ALTER TYPE → SET DEFAULT."""
    st = ctx.statement
    if not st.in_transaction:
        return None
    for later in ctx.revision.statements[st.index + 1:]:
        o = later.observation
        if not later.in_transaction or (o.xact and st.observation.xact and o.xact != st.observation.xact):
            return None  # committed in between: the window without a default was visible
        node = parse_one(later.sql)
        if o.error or not isinstance(node, ast.AlterTableStmt) or range_name(node.relation) != table:
            continue
        for cmd in node.cmds or ():
            if cmd.name == column and ((subtype(cmd) == "AT_ColumnDefault" and cmd.def_ is not None)
                                       or subtype(cmd) == "AT_AddIdentity"):
                return later
    return None


@register
class DropColumnDefault(Rule):
    id = "drop-column-default"
    title = "DROP DEFAULT or DROP IDENTITY on a column the running code may rely on"
    severity = "warning"
    docs = PG_DOCS + "sql-altertable.html#SQL-ALTERTABLE-DESC-SET-DROP-DEFAULT"
    rationale = (
        "ALTER COLUMN … DROP DEFAULT (and DROP IDENTITY, which also drops the column's sequence) only "
        "changes the catalog under a brief ACCESS EXCLUSIVE, but from that moment an INSERT that does "
        "not name the column gets NULL instead of the default: it fails when the column is NOT NULL, "
        "and silently stores NULL otherwise. The application version still running during the deploy "
        "(and any other writer) was written against the default. It is a contract step: first deploy code "
        "that sets the column itself in every INSERT, then drop the default in a later release (with "
        "lock_timeout). Not reported on tables created by the revision, nor for a nullable column the "
        "revision adds (old code never writes it), nor when a later statement of the same transaction sets "
        "a default again."
    )
    bad_example = 'op.alter_column("orders", "status", server_default=None)'
    good_example = lines("# a later release than the code that sets orders.status in every INSERT:",
                         LOCK_TIMEOUT,
                         'op.alter_column("orders", "status", server_default=None)'
                         "  # alembic-guard: ignore[drop-column-default] set by the code since release 42")

    def check(self, ctx):
        if failed(ctx):
            return
        for table, cmd in table_commands(ctx):
            if not _is_drop_default(cmd) or not ctx.preexisting(table):
                continue
            col = cmd.name
            new, not_null = column_state(ctx, table, col)
            identity = subtype(cmd) == "AT_DropIdentity"
            if new and not not_null:
                continue  # a new nullable column: the running code never writes it, NULL is what it gets anyway
            if _restored(ctx, table, col) is not None:
                continue
            what = "DROP IDENTITY" if identity else "DROP DEFAULT"
            if new:
                effect = (f"{col} is a NOT NULL column this revision adds, which the running code does not set: "
                          f"its INSERTs into {table} fail once the default is gone")
            elif not_null:
                effect = f"INSERTs of the running code that leave {col} out fail ({col} is NOT NULL)"
            else:
                effect = f"INSERTs of the running code that leave {col} out store NULL instead of the default"
            stmt = f"ALTER TABLE {q(table)} ALTER COLUMN {q(col)} {what}"
            first = (f"# keep the default until a release whose code sets {table}.{col} in every INSERT, then:"
                     if new else f"# first deploy code that sets {table}.{col} in every INSERT; in a later release:")
            ignore = f"  # alembic-guard: ignore[{self.id}] <release since which the code sets it>"
            fix = lines(first, LOCK_TIMEOUT, execute(stmt) + ignore)
            yield self.finding(
                ctx, f"{what} on {table}.{col} is a contract step: {effect}. Ship it in a release after the "
                     "code stopped relying on the default.", table=table, fix=fix, detail=f"{table}.{col}")
