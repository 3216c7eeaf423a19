import copy

from pglast import ast
from pglast.stream import RawStream

from .base import PG_DOCS, Rule, register
from .render import execute, lines

_ROLE_STATEMENTS = (ast.CreateRoleStmt, ast.AlterRoleStmt)
_MAPPING_STATEMENTS = (ast.CreateUserMappingStmt, ast.AlterUserMappingStmt)


def _password_options(node) -> list:
    """The ``password`` options of a role or user-mapping statement that set a value (not ``PASSWORD NULL``)."""
    if not isinstance(node, _ROLE_STATEMENTS + _MAPPING_STATEMENTS):
        return []
    return [o for o in node.options or () if isinstance(o, ast.DefElem) and o.defname == "password"
            and isinstance(o.arg, ast.String)]


def _without_password(node) -> str | None:
    """The same statement re-printed from its parse tree without the password; None when nothing is left
    (``ALTER ROLE app PASSWORD '…'`` only sets the password)."""
    node = copy.deepcopy(node)  # the parse is cached and shared (sql/parse.py)
    kept = tuple(o for o in node.options or () if o not in _password_options(node))
    if not kept and isinstance(node, (ast.AlterRoleStmt, ast.AlterUserMappingStmt)):
        return None
    node.options = kept or None
    # RawStream leaves a double space where the option was; role and mapping options hold no literal
    # with runs of spaces worth keeping
    return " ".join(RawStream()(node).split())


def _whose(node) -> str:
    if isinstance(node, ast.CreateRoleStmt):
        return f"role {node.role}"
    role = getattr(node, "role", None) or getattr(node, "user", None)
    name = getattr(role, "rolename", None) or "the current user"
    return f"the user mapping of {name} for server {node.servername}" if isinstance(node, _MAPPING_STATEMENTS) \
        else f"role {name}"


@register
class PasswordInRevision(Rule):
    id = "password-in-revision"
    title = "a password written in a revision"
    severity = "warning"
    docs = PG_DOCS + "sql-createrole.html"
    rationale = (
        "A password in a revision is in version control for everyone with the repository, in every "
        "environment the migration runs in (the same password in staging and production), and in the "
        "server log of any server that logs the statement (log_statement, or log_min_error_statement when "
        "it fails): the PostgreSQL manual warns that the password \"will be transmitted to the server in "
        "cleartext, and it might also be logged in the client's command history or the server log\" "
        "(CREATE ROLE, ALTER ROLE). Create the role in the migration without a password and set the "
        "password at deploy time from your secret store, or use a pre-hashed SCRAM verifier set there. "
        "alembic-guard masks the password in its own reports."
    )
    bad_example = 'op.execute("CREATE ROLE app LOGIN PASSWORD \'hunter2\'")'
    good_example = ('op.execute("CREATE ROLE app LOGIN")  # password set at deploy time: '
                    'ALTER ROLE app PASSWORD from the secret store')

    def check(self, ctx):
        node = ctx.node
        if not _password_options(node):
            return
        whose = _whose(node)
        rest = _without_password(node)
        if rest:
            fix = lines("# no password in the revision; set it at deploy time from your secret store", execute(rest))
        else:
            fix = lines("# drop this statement from the revision: set the password at deploy time from your",
                        f"# secret store instead ({type(node).__name__.replace('Stmt', '')} of {whose})")
        yield self.finding(
            ctx, f"the revision sets the password of {whose} in SQL: it is in version control and may be "
                 f"written to the server log.", fix=fix)
