from pglast import ast

from ._common import failed, names_of
from .base import PG_DOCS, Rule, register


@register
class DropPolicy(Rule):
    id = "drop-policy"
    title = "DROP POLICY"
    severity = "warning"
    docs = PG_DOCS + "sql-droppolicy.html"
    rationale = (
        "Dropping a row-level security policy changes who can see or change which rows (with RLS on and "
        "no policy left, nobody but the owner sees anything; with a permissive policy gone, rows "
        "disappear for some roles). Review it as a security change; replace policies in one "
        "transaction (CREATE the new one before DROPping the old)."
    )
    bad_example = 'op.execute("DROP POLICY documents_owner ON documents")'
    good_example = ('op.execute("CREATE POLICY documents_owner_v2 ON documents USING (owner_id = current_user_id())")\n'
                    'op.execute("DROP POLICY documents_owner ON documents")  '
                    '# alembic-guard: ignore[drop-policy] replaced by documents_owner_v2')

    def check(self, ctx):
        node = ctx.node
        if failed(ctx) or not isinstance(node, ast.DropStmt) or node.removeType.name != "OBJECT_POLICY":
            return
        for obj in node.objects or ():
            parts = [p.sval for p in obj]
            table, policy = names_of(parts[:-1] and [ast.String(p) for p in parts[:-1]]), parts[-1]
            if not ctx.preexisting(table):
                continue
            yield self.finding(
                ctx, f"DROP POLICY {policy} ON {table} changes which rows of {table} each role can see or "
                     f"change: review it as a security change.", table=table,
                fix=f"# create the replacement policy on {table} in the same revision, before dropping {policy}")
