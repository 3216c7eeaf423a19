import ast as pyast
from functools import lru_cache

from .base import Rule, register


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
