from pglast import ast
from pglast.enums import SubLinkType

from ..sql import range_name
from ._common import failed, is_version_table
from ._dml import _walk
from .base import PG_DOCS, Rule, register
from .render import lines


@register
class ReadsExistingRows(Rule):
    id = "reads-existing-rows"
    title = "Revision code reads the rows of an existing table (data-dependent work the shadow cannot run)"
    severity = "warning"
    unseen = True
    docs = PG_DOCS + "sql-select.html"
    rationale = (
        "The shadow PostgreSQL holds the schema, not the data: every table that existed before the "
        "revision is empty there. When the revision's Python code SELECTs rows of such a table and acts "
        "on them (an UPDATE per row, a statement only when a count is above zero, a loop over the "
        "result), that work never runs on the shadow, so its locks, scans and duration are not "
        "traced. On production it runs inside the migration transaction, once per row, holding every "
        "lock the revision took. The trace cannot vouch for it, so the revision is \"unknown\", not "
        "\"safe\". Do the data change in SQL, where the shadow traces it: one set-based statement, "
        "batched outside the transaction (`op.backfill`). If the code only reads (nothing it runs "
        "depends on the rows), say so with a suppression and its reason."
    )
    bad_example = lines(
        'conn = op.get_bind()',
        'for (id_, name) in conn.execute(sa.text("SELECT id, name FROM customers")):',
        '    conn.execute(sa.text("UPDATE customers SET slug = :s WHERE id = :id"),',
        '                 {"s": name.lower(), "id": id_})')
    good_example = lines(
        "import alembic_guard.ops  # noqa: F401  (registers op.backfill & co.)",
        'op.backfill("customers", {"slug": "lower(name)"}, where="slug IS NULL")')

    def check(self, ctx):
        node = ctx.node
        if failed(ctx) or ctx.statement.by_ops or not isinstance(node, ast.SelectStmt) or node.intoClause:
            return
        if not node.fromClause and not _exists_test(node):
            # SELECT setval('s', (SELECT max(id) FROM t)) and the like: the server does the work
            return
        written = _written_by_with_clause(node)
        tables = sorted({name for rv in _walk(node, (ast.RangeVar,))
                         if id(rv) not in written and (name := range_name(rv)) and ctx.preexisting(name)
                         and not is_version_table(name)})
        if not tables:
            return
        named = ", ".join(tables)
        fix = lines(
            "# do the data change in SQL, set-based and batched, where the shadow traces it:",
            "import alembic_guard.ops  # noqa: F401  (registers op.backfill & co.)",
            f'# op.backfill("{tables[0]}", {{"<column>": "<SQL expression>"}}, where="<rows still to change>")',
            "# or, if nothing the revision runs depends on these rows, say so on the line:",
            f"# alembic-guard: ignore[{self.id}] <why no statement depends on the rows>")
        yield self.finding(
            ctx, f"the revision's code reads rows of existing table{'s' * (len(tables) > 1)} {named}, and the "
                 "shadow has none of production's rows: whatever the code does with them (a statement per "
                 "row, or one run only when rows exist) did not run here and is not traced; on production "
                 "it runs inside the migration transaction." + _row_locks(node),
            table=tables[0], relations=tables[1:], fix=fix)


def _written_by_with_clause(node: ast.SelectStmt) -> set[int]:
    """ids of the target RangeVars of the INSERT/UPDATE/DELETE in the statement's WITH clause: ``WITH n
    AS (INSERT INTO t … RETURNING id) SELECT … FROM n`` reads the rows it wrote (RETURNING), not t's
    (the backfill rule judges the write)."""
    ctes = node.withClause.ctes if node.withClause else ()
    return {id(c.ctequery.relation) for c in ctes or ()
            if isinstance(c.ctequery, (ast.InsertStmt, ast.UpdateStmt, ast.DeleteStmt))}


def _exists_test(node: ast.SelectStmt) -> bool:
    """``SELECT EXISTS (SELECT … FROM t)``: a test the code branches on."""
    return any(sub.subLinkType == SubLinkType.EXISTS_SUBLINK for sub in _walk(node, (ast.SubLink,)))


def _row_locks(node: ast.SelectStmt) -> str:
    """SELECT … FOR UPDATE/SHARE locks each row it returns until the migration transaction ends."""
    if not node.lockingClause:
        return ""
    return (" Its FOR UPDATE/SHARE clause also locks every row it returns until the migration commits: "
            "concurrent writes to those rows wait.")
