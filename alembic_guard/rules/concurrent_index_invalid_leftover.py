from pglast import ast, parse_sql
from pglast.parser import ParseError, scan
from pglast.visitors import Visitor

from ..sql import range_name
from ._common import failed
from .base import PG_DOCS, Rule, register
from .recipe_hint import example, hint_for
from .render import autocommit_block, lines


def _with_params_as_null(sql: str):
    """Parse ``sql`` whose driver placeholders (``%(name)s``, ``%s``) pglast cannot parse, by putting
    NULL in their place: found with PostgreSQL's own scanner (tokens ``%`` ``(`` name ``)`` ``s``)."""
    try:
        tokens = list(scan(sql))
    except Exception:
        return None
    out, pos, i = [], 0, 0
    while i < len(tokens):
        tk = tokens[i]
        if tk.name == "ASCII_37":  # '%'
            nxt = tokens[i + 1:i + 5]
            if (len(nxt) == 4 and nxt[0].name == "ASCII_40" and nxt[2].name == "ASCII_41"
                    and sql[nxt[3].start:nxt[3].end + 1] == "s" and nxt[3].start == nxt[2].end + 1):
                out.append(sql[pos:tk.start] + "NULL")
                pos, i = nxt[3].end + 1, i + 5
                continue
            if nxt and sql[nxt[0].start:nxt[0].end + 1] == "s" and nxt[0].start == tk.end + 1:
                out.append(sql[pos:tk.start] + "NULL")
                pos, i = nxt[0].end + 1, i + 2
                continue
        i += 1
    out.append(sql[pos:])
    try:
        return [raw.stmt for raw in parse_sql("".join(out))]
    except ParseError:
        return None


class _ReadsIndisvalid(Visitor):
    """A query that reads ``pg_index.indisvalid`` (a check for an INVALID index)."""

    def __init__(self):
        self.pg_index = self.indisvalid = False

    def visit_RangeVar(self, ancestors, node):
        if node.relname == "pg_index" and node.schemaname in (None, "pg_catalog"):
            self.pg_index = True

    def visit_ColumnRef(self, ancestors, node):
        last = node.fields[-1] if node.fields else None
        if isinstance(last, ast.String) and last.sval == "indisvalid":
            self.indisvalid = True


def _checks_indisvalid(nodes) -> bool:
    for node in nodes or ():
        if not isinstance(node, ast.SelectStmt):
            continue
        v = _ReadsIndisvalid()
        v(node)
        if v.pg_index and v.indisvalid:
            return True
    return False


def _same_index(parts: list[str], name: str, schema: str | None) -> bool:
    if parts[-1] != name:
        return False
    return len(parts) == 1 or parts[-2] == (schema or "public")


def _guarded(ctx, name: str, schema: str | None) -> bool:
    """An earlier statement of the revision drops a leftover of that name (DROP INDEX CONCURRENTLY IF
    EXISTS) or looks at pg_index.indisvalid (alembic_guard's op.create_index_concurrently does)."""
    from ..sql.parse import parse_all

    for st in ctx.previous:
        nodes = parse_all(st.sql) or _with_params_as_null(st.sql)
        for node in nodes or ():
            if (isinstance(node, ast.DropStmt) and node.removeType.name == "OBJECT_INDEX" and node.missing_ok
                    and any(_same_index([p.sval for p in obj], name, schema) for obj in node.objects or ())):
                return True
        if _checks_indisvalid(nodes):
            return True
    return False


@register
class ConcurrentIndexInvalidLeftover(Rule):
    id = "concurrent-index-invalid-leftover"
    title = "Concurrent index build that does not handle an INVALID leftover"
    severity = "warning"
    docs = PG_DOCS + "sql-createindex.html#SQL-CREATEINDEX-CONCURRENTLY"
    rationale = (
        "When CREATE INDEX CONCURRENTLY fails (a duplicate for a UNIQUE index, a deadlock, a timeout, a "
        "cancelled deploy), it leaves the index behind marked INVALID (pg_index.indisvalid = false): "
        "never used by queries; when it failed after the build phase (indisready) it is still updated by "
        "every write, and a unique one still rejects duplicates. The retry then either fails ('relation "
        "already exists') or, with IF NOT EXISTS, "
        "silently succeeds and keeps the INVALID index: the migration reports success and the index is "
        "never there. Drop a leftover first (DROP INDEX CONCURRENTLY IF EXISTS, outside the transaction) "
        "or check pg_index.indisvalid; alembic_guard's op.create_index_concurrently does both."
    )
    bad_example = lines(
        autocommit_block('op.create_index("ix_orders_customer_id", "orders", ["customer_id"],\n'
                         '                postgresql_concurrently=True, if_not_exists=True)'))
    good_example = lines(  # the create-index recipe's safe form drops a leftover first
        example("create-index")[1],
        '# or (alembic_guard.ops): op.create_index_concurrently("ix_orders_customer_id", "orders", ["customer_id"])')
    group_as = "concurrent index builds do not handle an INVALID leftover of an earlier failed attempt"
    group_tail = ("a failed attempt leaves an INVALID index that a retry keeps (IF NOT EXISTS), fails on, or "
                  "builds a second one next to; drop a leftover first (every fix below).")
    group_fixes = "combine"

    def check(self, ctx):
        node = ctx.node
        if failed(ctx) or not isinstance(node, ast.IndexStmt) or not node.concurrent:
            return
        table = range_name(node.relation)
        if not ctx.preexisting(table):
            return
        name = node.idxname
        schema = node.relation.schemaname
        if name and _guarded(ctx, name, schema):
            return
        index = f"{schema}.{name}" if name and schema and schema != "public" else name
        if node.if_not_exists:
            msg = (f"CREATE INDEX CONCURRENTLY IF NOT EXISTS {index} on {table}: if an earlier attempt failed, "
                   f"{index} exists but is INVALID, and this statement silently keeps it (a NOTICE, no error): "
                   f"the migration succeeds and the index is never used.")
            detail = f"{index} on {table}, IF NOT EXISTS keeps a leftover"
        elif name:
            msg = (f"CREATE INDEX CONCURRENTLY {index} on {table} does not check for an INVALID {index} left by "
                   f"an earlier failed attempt: the retry fails with 'relation \"{name}\" already exists' "
                   f"until someone drops it by hand.")
            detail = f"{index} on {table}, the retry fails"
        else:
            msg = (f"CREATE INDEX CONCURRENTLY on {table} without a name: a failed attempt leaves an INVALID "
                   f"index, and the retry builds another one next to it (both maintained on every write).")
            detail = f"unnamed on {table}, the retry builds another"
            name = f"{table.split('.')[-1]}_idx"
            index = name
        # the create-index recipe's safe form: drop a leftover first, then build (IF NOT EXISTS dropped)
        fix = hint_for(self.id, ctx, recipe_id="create-index")
        yield self.finding(
            ctx, msg, table=table, detail=detail,
            fix=lines(fix, f"# (a valid {name} is dropped and rebuilt too; in one call, alembic_guard.ops' "
                           f"op.create_index_concurrently({name!r}, {table!r}, [...]) drops only an INVALID "
                           "leftover and keeps a valid one)"))
