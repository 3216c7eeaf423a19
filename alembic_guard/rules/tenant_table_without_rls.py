from pglast import ast
from pglast.enums import AlterTableType

from ..sql.parse import parse_all, range_name
from ._common import failed
from .base import PG_DOCS, Rule, register

#: column names that say "this row belongs to a tenant"
TENANT_COLUMNS = ("tenant_id", "org_id", "organization_id", "organisation_id", "workspace_id", "account_id")


@register
class TenantTableWithoutRls(Rule):
    id = "tenant-table-without-rls"
    title = "A new tenant table without row-level security where the other tenant tables have it"
    severity = "warning"
    category = "design"
    docs = PG_DOCS + "ddl-rowsecurity.html"
    rationale = (
        "When a schema isolates tenants with row-level security, a new table with a tenant column and RLS "
        "off is readable across tenants by every role that may SELECT it: the isolation holds only for the "
        "tables where `ENABLE ROW LEVEL SECURITY` and a policy exist. Enable it (and, for the table owner, "
        "FORCE) in the revision that creates the table, with the same policy the other tenant tables use."
    )
    bad_example = 'op.create_table("invoices", sa.Column("id", sa.BigInteger(), primary_key=True),\n' \
                  '                sa.Column("tenant_id", sa.BigInteger(), nullable=False))'
    good_example = (bad_example + '\n'
                    'op.execute("ALTER TABLE invoices ENABLE ROW LEVEL SECURITY")\n'
                    'op.execute("CREATE POLICY invoices_tenant ON invoices '
                    'USING (tenant_id = current_setting(\'app.tenant_id\')::bigint)")')

    def check(self, ctx):
        node = ctx.node
        if failed(ctx) or not isinstance(node, ast.CreateStmt) or node.partbound is not None:
            return
        cols = {e.colname for e in node.tableElts or () if isinstance(e, ast.ColumnDef)}
        tenant = next((c for c in TENANT_COLUMNS if c in cols), None)
        if tenant is None:
            return
        protected = sorted(name for name, t in ctx.revision.tables.items()
                           if t.row_security and tenant in t.columns)
        if not protected:
            return
        table = range_name(node.relation)
        if table in self._rls_enabled(ctx):
            return
        yield self.finding(
            ctx, f"new table {table} has {tenant} but no row-level security, while {', '.join(protected[:3])}"
                 f"{' …' if len(protected) > 3 else ''} enforce it: its rows are visible across tenants.",
            table=table,
            fix=(f'op.execute("ALTER TABLE {table} ENABLE ROW LEVEL SECURITY")\n'
                 f"# and the policy {protected[0]} uses (SELECT polname, pg_get_expr(polqual, polrelid) "
                 f"FROM pg_policy WHERE polrelid = '{protected[0]}'::regclass)"))

    @staticmethod
    def _rls_enabled(ctx) -> set[str]:
        out = set()
        for st in ctx.revision.statements:
            for n in parse_all(st.sql) or ():
                if isinstance(n, ast.AlterTableStmt):
                    if any(c.subtype in (AlterTableType.AT_EnableRowSecurity, AlterTableType.AT_ForceRowSecurity)
                           for c in n.cmds or ()):
                        out.add(range_name(n.relation))
        return out
