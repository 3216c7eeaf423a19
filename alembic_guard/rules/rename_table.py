from pglast import ast

from ..sql import range_name
from ._common import failed
from .base import PG_DOCS, Rule, register
from .render import LOCK_TIMEOUT, execute, lines, q


def rename_plan(old: str, new: str) -> str:
    schema = old.rsplit(".", 1)[0] + "." if "." in old else ""
    new_q = schema + new
    return lines(
        "# one transaction: rename, and keep the old name working as an updatable view",
        LOCK_TIMEOUT,
        f"op.rename_table({old.split('.')[-1]!r}, {new!r}" + (f", schema={old.split('.')[0]!r})" if schema else ")"),
        execute(f"CREATE VIEW {q(old)} AS SELECT * FROM {q(new_q)}"),
        f"# a later revision, once no running code uses {old!r}:",
        execute(f"DROP VIEW {q(old)}"),
    )


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
    bad_example = 'op.rename_table("customers", "clients")'
    good_example = rename_plan("customers", "clients")

    def check(self, ctx):
        node = ctx.node
        if failed(ctx) or not isinstance(node, ast.RenameStmt) or node.renameType.name != "OBJECT_TABLE":
            return
        table = range_name(node.relation)
        if not ctx.preexisting(table):
            return
        yield self.finding(
            ctx, f"RENAME TABLE {table} TO {node.newname} breaks the application code still running, "
                 f"which queries {table}.", table=table, fix=rename_plan(table, node.newname))
