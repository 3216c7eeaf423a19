import ast as pyast
from functools import lru_cache

from pglast import ast

from ..sql.parse import parse_all
from .base import Rule, register

#: statements that change rows or the session, not the schema: a revision of only these (a data fix,
#: a backfill with its VACUUMs) has nothing for downgrade() to undo in the schema
_NOT_SCHEMA = (ast.InsertStmt, ast.UpdateStmt, ast.DeleteStmt, ast.MergeStmt, ast.SelectStmt, ast.CopyStmt,
               ast.VariableSetStmt, ast.VariableShowStmt, ast.TransactionStmt, ast.LockStmt, ast.VacuumStmt,
               ast.ExplainStmt)


def _may_change_schema(statement) -> bool:
    """Whether a traced statement may have changed the schema: the trace saw a relation appear,
    disappear or be rewritten, or its SQL is anything but DML and session commands (unparsed SQL,
    ``DO`` blocks and calls count as changes: when in doubt, the rule speaks)."""
    obs = statement.observation
    if obs.created or obs.dropped or obs.rewritten:
        return True
    nodes = parse_all(statement.sql)
    return nodes is None or not all(isinstance(n, _NOT_SCHEMA) for n in nodes)


@lru_cache(maxsize=256)
def _empty_downgrade(path: str, mtime: float) -> int | None:
    """The line of ``def downgrade()`` when its body does nothing (pass, ``...``, a docstring, a
    comment), or 0 when the file has no downgrade at all; None when it does something or the file
    cannot be read."""
    try:
        tree = pyast.parse(open(path, encoding="utf-8").read())
    except (OSError, SyntaxError, ValueError):
        return None
    fn = next((n for n in tree.body if isinstance(n, pyast.FunctionDef) and n.name == "downgrade"), None)
    if fn is None:
        return 0
    for stmt in fn.body:
        if isinstance(stmt, pyast.Pass):
            continue
        if isinstance(stmt, pyast.Expr) and isinstance(stmt.value, pyast.Constant):
            continue  # a docstring or ``...``
        return None
    return fn.lineno


@register
class MissingDowngrade(Rule):
    id = "missing-downgrade"
    title = "A revision whose downgrade() does nothing"
    severity = "info"
    category = "design"
    docs = "https://alembic.sqlalchemy.org/en/latest/tutorial.html#downgrading"
    rationale = (
        "A revision whose upgrade changes the schema but whose downgrade is empty cannot be rolled back with "
        "`alembic downgrade`: after a bad deploy the way back is a hand-written fix under pressure. Write the "
        "inverse operations (an irreversible step, such as a dropped column's data, can raise with a "
        "message saying so), so that a rollback is a command."
    )
    bad_example = ('def upgrade():\n    op.add_column("orders", sa.Column("note", sa.Text()))\n\n\n'
                   'def downgrade():\n    pass')
    good_example = ('def upgrade():\n    op.add_column("orders", sa.Column("note", sa.Text()))\n\n\n'
                    'def downgrade():\n    op.drop_column("orders", "note")')

    def check(self, ctx):
        import os

        st = ctx.statement
        first = next((s for s in ctx.revision.statements if s.path == ctx.revision.path), None)
        if first is not st or not ctx.revision.path:
            return  # once per revision, on its first statement
        if not any(_may_change_schema(s) for s in ctx.revision.statements if s.path == ctx.revision.path):
            return  # rows only (a data fix, a backfill): no schema for downgrade() to restore
        try:
            mtime = os.path.getmtime(ctx.revision.path)
        except OSError:
            return
        line = _empty_downgrade(ctx.revision.path, mtime)
        if line is None:
            return
        finding = self.finding(ctx, "upgrade() changes the schema but downgrade() does nothing: "
                                    "`alembic downgrade` cannot roll this revision back.",
                               fix="# write the inverse of each upgrade step in downgrade()")
        if line:
            finding.line = line
        yield finding
