from pglast import ast

from ._common import failed, names_of
from .base import PG_DOCS, Rule, register
from .render import execute, lines
from .rls_access_widened import is_public

# PUBLIC already has these by default (EXECUTE on functions, USAGE on types and trusted languages):
# granting them again changes nothing.
DEFAULT_PUBLIC = {"OBJECT_FUNCTION", "OBJECT_PROCEDURE", "OBJECT_ROUTINE", "OBJECT_TYPE", "OBJECT_DOMAIN",
                  "OBJECT_LANGUAGE"}
KIND = {"OBJECT_TABLE": "TABLE", "OBJECT_SEQUENCE": "SEQUENCE", "OBJECT_SCHEMA": "SCHEMA",
        "OBJECT_DATABASE": "DATABASE", "OBJECT_FOREIGN_SERVER": "FOREIGN SERVER", "OBJECT_FDW": "FOREIGN DATA WRAPPER",
        "OBJECT_LARGEOBJECT": "LARGE OBJECT", "OBJECT_TABLESPACE": "TABLESPACE"}


def _object_names(objects) -> list[str]:
    out = []
    for o in objects or ():
        if isinstance(o, ast.RangeVar):
            out.append(o.relname if not o.schemaname or o.schemaname == "public" else f"{o.schemaname}.{o.relname}")
        elif isinstance(o, ast.String):
            out.append(o.sval)
        elif isinstance(o, (tuple, list)):
            out.append(names_of(o))
        else:
            out.append(str(getattr(o, "ival", "…")))
    return out


@register
class GrantToPublic(Rule):
    id = "grant-to-public"
    title = "GRANT … TO PUBLIC"
    severity = "warning"
    docs = PG_DOCS + "ddl-priv.html"
    rationale = (
        "PUBLIC is every role, present and future, including ones created later for other applications, "
        "read-only reporting users or extensions. A privilege granted to PUBLIC cannot be taken away "
        "from one role alone (REVOKE … FROM that role does not override PUBLIC). Grant to the "
        "application's role (or a group role it is a member of) instead. ALTER DEFAULT PRIVILEGES … "
        "TO PUBLIC does the same for every object created later."
    )
    bad_example = 'op.execute("GRANT SELECT ON invoices TO PUBLIC")'
    good_example = 'op.execute("GRANT SELECT ON invoices TO reporting")'

    def check(self, ctx):
        node = ctx.node
        if failed(ctx):
            return
        default = isinstance(node, ast.AlterDefaultPrivilegesStmt)
        if default:
            node = node.action
        if not isinstance(node, ast.GrantStmt) or not node.is_grant or not any(
                is_public(g) for g in node.grantees or ()):
            return
        objtype = node.objtype.name if hasattr(node.objtype, "name") else str(node.objtype)
        if objtype in DEFAULT_PUBLIC:
            return
        kind = KIND.get(objtype, objtype.replace("OBJECT_", ""))
        privs = ", ".join((p.priv_name or "ALL").upper() for p in node.privileges or ()) or "ALL PRIVILEGES"
        if default:
            target = f"every {kind.lower()} created later (ALTER DEFAULT PRIVILEGES)"
            table = None
        else:
            names = _object_names(node.objects)
            prefix = "ALL TABLES IN SCHEMA " if node.targtype.name == "ACL_TARGET_ALL_IN_SCHEMA" else \
                ("" if kind == "TABLE" else kind + " ")
            target = prefix + ", ".join(names)
            table = names[0] if kind == "TABLE" and names and prefix == "" else None
        sql = ctx.sql.strip().rstrip(";")
        yield self.finding(
            ctx, f"GRANT {privs} ON {target} TO PUBLIC gives it to every role, present and future; it cannot "
                 f"be revoked from one role alone.", table=table,
            fix=lines("# grant to the application's role (or a group role) instead of PUBLIC:",
                      execute(_to_role(sql))))


def _to_role(sql: str) -> str:
    """The same GRANT to ``app_user``: re-printed from the parse tree with the grantee replaced."""
    from pglast import enums, parse_sql
    from pglast.stream import RawStream

    stmt = parse_sql(sql)[0].stmt
    grant = stmt.action if isinstance(stmt, ast.AlterDefaultPrivilegesStmt) else stmt
    grant.grantees = tuple(ast.RoleSpec(roletype=enums.RoleSpecType.ROLESPEC_CSTRING, rolename="app_user")
                           if is_public(g) else g for g in grant.grantees)
    return RawStream()(stmt)
