from pglast import ast

from ..recipes.rename_table import bridged
from ..sql import parse_one, range_name
from ._common import failed
from .base import PG_DOCS, Rule, register
from .recipe_hint import example, hint_for


@register
class RenameTable(Rule):
    id = "rename-table"
    title = "RENAME TABLE on an existing table"
    severity = "error"
    docs = PG_DOCS + "sql-altertable.html#SQL-ALTERTABLE-DESC-RENAME"
    rationale = (
        "Renaming a table is instant (a brief ACCESS EXCLUSIVE), but the application version still "
        "running uses the old name and fails until every instance is replaced. In the same transaction "
        "as the rename, create a view with the old name (CREATE VIEW old AS SELECT * FROM new, which is "
        "automatically updatable), and drop the view in a later release."
    )
    bad_example, good_example = example("rename-table")

    def check(self, ctx):
        node = ctx.node
        if failed(ctx) or not isinstance(node, ast.RenameStmt) or node.renameType.name != "OBJECT_TABLE":
            return
        table = range_name(node.relation)
        if not ctx.preexisting(table) or bridged(node, _later_nodes(ctx)):
            return  # the bridge: a view under the old name, created in the same revision
        yield self.finding(
            ctx, f"RENAME TABLE {table} TO {node.newname} breaks the application code still running, "
                 f"which queries {table}.", table=table, fix=hint_for(self.id, ctx))


def _later_nodes(ctx):
    """The parsed statements of the revision after this one."""
    statements = ctx.revision.statements
    index = next((i for i, st in enumerate(statements) if st is ctx.statement), len(statements))
    return [parse_one(st.sql) for st in statements[index + 1:]]
