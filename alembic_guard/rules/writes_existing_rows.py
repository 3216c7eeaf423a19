"""The trace-first rule for writes: rows of an existing table updated or deleted by SQL whose rows the
parser cannot bound (a DO block, a function or procedure, a prepared statement, a view)."""

from pglast import ast

from ..locks import TABLE_KINDS
from ..sql import range_name
from ._common import failed, inner_contexts, is_version_table
from .backfill_in_migration_transaction import from_query, judged_tables
from .base import PG_DOCS, Rule, register
from .blocking_lock_during_work import blocking_locks
from .render import lines

# Statements that read and write rows; a utility statement (ALTER TABLE … CHECK, CREATE INDEX) also
# scans tables, under a lock of its own, and is judged by the lock rules
_MAY_WRITE = (ast.SelectStmt, ast.InsertStmt, ast.UpdateStmt, ast.DeleteStmt, ast.MergeStmt,
              ast.ExecuteStmt, ast.CreateTableAsStmt, ast.DoStmt, ast.CallStmt)

_WRITES = (ast.InsertStmt, ast.UpdateStmt, ast.DeleteStmt, ast.MergeStmt)


def _is_table(ctx, name: str | None) -> bool:
    """``name`` is a table the statement locked (not a view: the snapshot holds no views)."""
    name = ctx.resolve(name)
    return any(lk.relation == name and lk.kind in TABLE_KINDS for lk in ctx.obs.locks)


@register
class WritesExistingRows(Rule):
    id = "writes-existing-rows"
    title = "Rows of an existing table written where the SQL does not say which (DO block, function, view)"
    severity = "warning"
    unseen = True
    generic = True
    docs = PG_DOCS + "explicit-locking.html#LOCKING-ROWS"
    rationale = (
        "The shadow saw the statement update or delete rows of a table that existed before the "
        "revision (the table's row counters moved), or scan it while holding ROW EXCLUSIVE on it, the "
        "lock of UPDATE, DELETE and INSERT; on the shadow's near-empty copy an UPDATE with no rows to "
        "change leaves only that trace. The SQL does not say which rows: the write is inside a DO "
        "block, a function or procedure of the project, a prepared statement (EXECUTE), or goes "
        "through a view. On production it may be a full-table backfill: every row it changes stays "
        "locked until the transaction ends (inside the migration transaction: with every lock the "
        "revision took), in one burst of WAL. The trace cannot vouch for how many rows that is, so "
        "the revision is \"unknown\", not \"safe\". Write the backfill as plain SQL batched outside the "
        "migration transaction (`op.backfill`), or, for a targeted fix, acknowledge it with a "
        "suppression and its reason."
    )
    bad_example = 'op.execute("DO $$ BEGIN UPDATE orders SET status = \'new\' WHERE status IS NULL; END $$")'
    good_example = lines(
        "import alembic_guard.ops  # noqa: F401  (registers op.backfill & co.)",
        "op.backfill(\"orders\", {\"status\": \"'new'\"}, where=\"status IS NULL\")")

    def check(self, ctx):
        st = ctx.statement
        node = ctx.node
        if failed(ctx) or st.by_ops or not isinstance(node, _MAY_WRITE) and st.coverage != "trace-only":
            return
        obs = ctx.obs
        if st.coverage != "trace-only" and isinstance(node, _WRITES) and _is_table(ctx, range_name(node.relation)):
            # A write to a table the SQL names: the backfill rule judges how many rows it changes, and
            # what cascades and triggers write elsewhere follows those rows (one counter row per
            # order inserted). Only an INSERT … SELECT can write rows the SQL does not bound: those
            # of its query.
            if not (isinstance(node, ast.InsertStmt) and from_query(node.selectStmt)):
                return
            only = {ctx.resolve(range_name(node.relation))}
        else:
            only = None
        # the backfill rule judged these from the SQL (the statement's, or those of its DO block or
        # called functions); a write-blocking lock makes it an error already
        skip = judged_tables(ctx) | {lk.relation for lk in blocking_locks(ctx).values()}
        for inner in inner_contexts(ctx):
            skip |= judged_tables(inner)
        skip |= {ctx.resolve(name) for name in skip}  # as the trace names them (search_path)
        # a scan under ROW EXCLUSIVE is a write only where the statement can write (a plain SELECT that
        # reads a table an earlier INSERT of the transaction locked is a read: reads-existing-rows)
        writes = st.coverage == "trace-only" or not isinstance(node, (ast.SelectStmt, ast.CreateTableAsStmt))
        row_locked = {lk.oid for lk in st.own_locks() if lk.mode == "ROW EXCLUSIVE"} if writes else set()
        kinds = {lk.oid: lk.kind for lk in obs.locks}
        written = dict.fromkeys(obs.modified_oids, "updates or deletes rows of")
        for oid in obs.scanned_oids:
            if oid in row_locked:
                written.setdefault(oid, "scans, holding ROW EXCLUSIVE (the lock of a write) on,")
        tables = [(obs.names.get(oid, f"relation {oid}"), what) for oid, what in written.items()
                  if oid in ctx.revision.preexisting_oids and kinds.get(oid, "r") in TABLE_KINDS]
        tables = [(name, what) for name, what in tables if name not in skip and not is_version_table(name)
                  and (only is None or name in only)]
        for table, what in tables:
            fix = lines(
                "# a backfill: plain SQL, batched outside the migration transaction, where the shadow traces it:",
                "import alembic_guard.ops  # noqa: F401  (registers op.backfill & co.)",
                f'# op.backfill("{table}", {{"<column>": "<SQL expression>"}}, where="<rows still to change>")',
                "# a targeted fix (a few rows by key): say so on the line:",
                f"# alembic-guard: ignore[{self.id}] <which rows, and why they are few>")
            yield self.finding(
                ctx, f"the statement ({_how(ctx, table)}) {what} existing table {table}, and the SQL does not "
                     "say which rows: on production it may change every row, each locked until "
                     f"{'the migration commits' if st.in_transaction else 'the statement ends'}. The shadow "
                     "has none of production's rows, so the trace cannot tell how many.",
                table=table, fix=fix)


def _how(ctx, table: str) -> str:
    """Where the write to ``table`` hides, for the message."""
    st, node = ctx.statement, ctx.node
    if st.coverage == "trace-only":
        return st.coverage_reason
    if isinstance(node, ast.InsertStmt) and range_name(node.relation) == table:
        return "an INSERT … SELECT that reads the table it inserts into"
    if isinstance(node, _WRITES):
        return "a write through a view or a rule"
    return "a statement whose SQL writes no table of its own: a trigger or a rule"
