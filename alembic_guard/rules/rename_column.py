from pglast import ast

from ..sql import range_name
from ._common import failed
from .base import PG_DOCS, Rule, register
from .recipe_hint import example, hint_for


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
    bad_example, good_example = example("rename-column")

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
            table=table, fix=hint_for(self.id, ctx))
