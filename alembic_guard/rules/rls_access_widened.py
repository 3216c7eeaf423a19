from pglast import ast

from ..sql import alter_commands, range_name, subtype
from ..sql.parse import parse_one
from ._common import failed, sql_text
from .base import PG_DOCS, Rule, register
from .render import execute, lines, q


def is_public(role) -> bool:
    rt = getattr(role, "roletype", None)
    return getattr(rt, "name", str(rt)) == "ROLESPEC_PUBLIC"


def role_names(roles) -> list[str]:
    out = []
    for r in roles or ():
        out.append("PUBLIC" if is_public(r) else (r.rolename or getattr(r.roletype, "name", "?")
                                                  .replace("ROLESPEC_", "").lower()))
    return out


def is_true(expr) -> bool:
    """``true`` (or ``'t'::boolean``-like constants): a policy expression that admits every row."""
    if isinstance(expr, ast.TypeCast):
        expr = expr.arg
    if not isinstance(expr, ast.A_Const) or expr.isnull:
        return False
    val = expr.val
    if isinstance(val, ast.Boolean):
        return bool(val.boolval)
    return isinstance(val, ast.String) and val.sval.lower() in ("t", "true", "on", "yes", "1")


def _rls_enabled_here(ctx, table: str) -> bool:
    """An earlier statement of this revision enabled RLS on ``table``: its first policies are set up now
    (going from no RLS to RLS narrows access, whatever the new policies say)."""
    for st in ctx.previous:
        node = parse_one(st.sql)
        if isinstance(node, ast.AlterTableStmt) and range_name(node.relation) == table and any(
                subtype(c) == "AT_EnableRowSecurity" for c in alter_commands(node)):
            return True
    return False


@register
class RlsAccessWidened(Rule):
    id = "rls-access-widened"
    title = "Row-level security policy that may widen access"
    severity = "warning"
    docs = PG_DOCS + "ddl-rowsecurity.html"
    rationale = (
        "Permissive policies (the default of CREATE POLICY) are combined with OR: a row is visible, or may "
        "be written, when any permissive policy for the role and command allows it. Adding one can only "
        "widen access, never narrow it; a policy without TO applies to PUBLIC, i.e. every role, and "
        "one with USING (true) for PUBLIC exposes every row to every role with table privileges. "
        "ALTER POLICY replaces the USING / WITH CHECK expression or the roles, and nothing checks that "
        "the new expression is not weaker than the old one. Review these as security changes: name the "
        "roles (TO app_user), prefer AS RESTRICTIVE for an additional condition (restrictive policies "
        "are AND-ed), and keep the expression as narrow as the old one. (DISABLE / NO FORCE ROW LEVEL "
        "SECURITY are reported by disable-row-level-security, DROP POLICY by drop-policy.)"
    )
    bad_example = 'op.execute("CREATE POLICY documents_read ON documents USING (true)")'
    good_example = lines(
        "# named roles, a narrow expression, and the review written down:",
        "# alembic-guard: ignore[rls-access-widened] reviewed: app_user reads only its own documents",
        'op.execute("CREATE POLICY documents_read ON documents FOR SELECT TO app_user "',
        '           "USING (owner_id = current_setting(\'app.user_id\')::int)")',
        "# an extra condition on top of the existing policies: AS RESTRICTIVE (AND-ed), not reported",
        'op.execute("CREATE POLICY documents_tenant ON documents AS RESTRICTIVE TO app_user "',
        '           "USING (tenant_id = current_setting(\'app.tenant_id\')::int)")')

    def check(self, ctx):
        node = ctx.node
        if failed(ctx):
            return
        if isinstance(node, ast.CreatePolicyStmt):
            yield from self._create(ctx, node)
        elif isinstance(node, ast.AlterPolicyStmt):
            yield from self._alter(ctx, node)

    def _create(self, ctx, node):
        table = range_name(node.table)
        if not node.permissive or not ctx.preexisting(table) or _rls_enabled_here(ctx, table):
            return
        roles = role_names(node.roles)
        public = any(is_public(r) for r in node.roles or ())
        cmd = (node.cmd_name or "all").upper()
        # the expression that admits rows: USING, or WITH CHECK for an INSERT policy
        expr = node.qual if node.qual is not None else node.with_check
        open_all = public and expr is not None and is_true(expr)
        who = "PUBLIC (every role)" + (", no TO clause" if roles == ["PUBLIC"] else "") if public else \
            ", ".join(roles)
        what = sql_text(expr) if expr is not None else "…"
        msg = (f"CREATE POLICY {node.policy_name} ON {table} is PERMISSIVE (the default): it is OR-ed with "
               f"the existing policies, so it can only widen which rows of {table} {who} can "
               f"{'access' if cmd == 'ALL' else cmd}, here to every row matching {what}")
        if open_all:
            msg += f"; with {'USING' if node.qual is not None else 'WITH CHECK'} (true) for PUBLIC, row-level " \
                   f"security no longer restricts {cmd if cmd != 'ALL' else 'anything'} on {table} for any role"
        msg += " (if RLS is enabled on it)."
        using = f" USING ({what})" if node.qual is not None else ""
        check = f" WITH CHECK ({sql_text(node.with_check)})" if node.with_check is not None else ""
        for_ = f" FOR {cmd}" if cmd != "ALL" else ""
        to_role = "app_user" if public else ", ".join(q(r) for r in roles)
        fix = lines(
            "# name the roles it is for (not PUBLIC) and keep the expression narrow"
            + (" (not true)" if open_all else "") + ":",
            execute(f"CREATE POLICY {q(node.policy_name)} ON {q(table)}{for_} TO {to_role}{using}{check}"),
            "# or, for an extra condition every row must also meet, AS RESTRICTIVE (AND-ed with the others);",
            "# once reviewed, say why on the op line: # alembic-guard: ignore[rls-access-widened] <who sees what>")
        yield self.finding(ctx, msg, table=table, fix=fix, severity="error" if open_all else None)

    def _alter(self, ctx, node):
        table = range_name(node.table)
        if not ctx.preexisting(table) or (node.qual is None and node.with_check is None and not node.roles):
            return
        changed = [part for part, v in (("the roles", node.roles), ("USING", node.qual),
                                        ("WITH CHECK", node.with_check)) if v]
        public = any(is_public(r) for r in node.roles or ())
        open_all = public and node.qual is not None and is_true(node.qual)
        details = []
        if node.roles:
            details.append(f"TO {', '.join(role_names(node.roles))}")
        if node.qual is not None:
            details.append(f"USING ({sql_text(node.qual)})")
        if node.with_check is not None:
            details.append(f"WITH CHECK ({sql_text(node.with_check)})")
        yield self.finding(
            ctx, f"ALTER POLICY {node.policy_name} ON {table} replaces {' and '.join(changed)} "
                 f"({' '.join(details)}): nothing checks that the new policy is not weaker than the old one; "
                 f"review it as a security change.", table=table, severity="error" if open_all else None,
            fix=lines("# compare with the policy it replaces (pg_policies) before and after:",
                      f"#   SELECT roles, cmd, qual, with_check FROM pg_policies "
                      f"WHERE tablename = '{table.split('.')[-1]}' AND policyname = '{node.policy_name}';",
                      "# and keep the roles named and the expression at least as narrow"))
