from pglast import ast

from ..sql import range_name
from ._common import failed
from .base import PG_DOCS, Rule, register
from .render import LOCK_TIMEOUT, execute, lines, q, table_args


def rename_plan(table: str, old: str, new: str) -> str:
    return lines(
        "# expand: add the new column and keep both in sync (trigger), backfill in batches",
        LOCK_TIMEOUT,
        execute(f"ALTER TABLE {q(table)} ADD COLUMN {q(new)} <type of {old}>"),
        f"# deploy code that reads {new!r} and writes both columns; backfill {new!r} from {old!r}",
        f"# contract (a later revision, after no running code uses {old!r}):",
        f"op.drop_column({table_args(table)}, {old!r})",
    )


@register
class RenameColumn(Rule):
    id = "rename-column"
    title = "RENAME COLUMN on an existing table"
    severity = "error"
    docs = PG_DOCS + "sql-altertable.html#SQL-ALTERTABLE-DESC-RENAME"
    rationale = (
        "Renaming is instant (a brief ACCESS EXCLUSIVE), but the application version that is still "
        "running during and after the deploy uses the old name: its queries fail until every instance "
        "runs the new code, and a rollback of the code fails the other way. Use expand/contract: add "
        "the new column, write both, backfill, switch reads, and drop the old column in a later release."
    )
    bad_example = 'op.alter_column("customers", "name", new_column_name="full_name")'
    good_example = rename_plan("customers", "name", "full_name")

    def check(self, ctx):
        node = ctx.node
        if failed(ctx) or not isinstance(node, ast.RenameStmt):
            return
        if node.renameType.name != "OBJECT_COLUMN" or node.relationType.name not in ("OBJECT_TABLE",
                                                                                     "OBJECT_FOREIGN_TABLE"):
            return
        table = range_name(node.relation)
        if not ctx.preexisting(table):
            return
        yield self.finding(
            ctx, f"RENAME COLUMN {table}.{node.subname} TO {node.newname} breaks the application code still "
                 f"running, which reads and writes {node.subname}.",
            table=table, fix=rename_plan(table, node.subname, node.newname))
