from ._common import failed, table_commands
from .base import PG_DOCS, Rule, register


@register
class DisableRowLevelSecurity(Rule):
    id = "disable-row-level-security"
    title = "DISABLE ROW LEVEL SECURITY"
    severity = "error"
    docs = PG_DOCS + "ddl-rowsecurity.html"
    rationale = (
        "Disabling row-level security makes every row visible (and writable) to every role with table "
        "privileges, whatever the policies say. It is a security change, not a schema change; once RLS "
        "is enabled it should stay enabled. Change the policies instead (CREATE POLICY / ALTER POLICY)."
    )
    bad_example = 'op.execute("ALTER TABLE documents DISABLE ROW LEVEL SECURITY")'
    good_example = 'op.execute("ALTER POLICY documents_owner ON documents USING (owner_id = current_user_id())")'

    def check(self, ctx):
        if failed(ctx):
            return
        for table, _cmd in table_commands(ctx, "AT_DisableRowSecurity", "AT_NoForceRowSecurity"):
            if not ctx.preexisting(table):
                continue
            yield self.finding(
                ctx, f"row-level security on {table} is switched off: every role with privileges on {table} "
                     f"sees every row, regardless of its policies.", table=table,
                fix=f"# keep RLS on {table}; change its policies with CREATE POLICY / ALTER POLICY instead")
