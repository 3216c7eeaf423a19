from pglast import ast
from pglast.enums import CmdType, OnConflictAction, SetOperation

from ..sql import range_name
from ._common import failed, held_from_before, where
from ._dml import DmlBound, classify
from .base import PG_DOCS, Rule, register
from .recipe_hint import example, hint_for


@register
class BackfillInMigrationTransaction(Rule):
    id = "backfill-in-migration-transaction"
    title = "UPDATE/DELETE of an existing table: full-table, or inside the migration transaction"
    severity = "warning"
    docs = PG_DOCS + "explicit-locking.html#LOCKING-ROWS"
    rationale = (
        "An UPDATE or DELETE in the migration's transaction locks every row it touches until COMMIT, "
        "rewrites them in one burst of WAL (replica lag, bloat) and, for a large table, runs for "
        "minutes. Worse, any lock an earlier statement of the same transaction took (ACCESS EXCLUSIVE "
        "from ADD COLUMN, say) is held for the whole backfill, blocking all traffic. Backfill outside "
        "the migration transaction in keyset batches on the primary key (1k-10k rows, one short "
        "transaction each, idempotent predicate). A statement is targeted only when its WHERE pins a "
        "bounded set of rows: equality or an IN-list of constants/parameters on every column of the "
        "primary key or of a unique key (ANDed with anything; an OR of such terms), or a batch bound "
        "(a key `IN (SELECT … LIMIT n)` / `= ANY(ARRAY(SELECT … LIMIT n))`, a range with both ends on "
        "the primary key's single column, a ctid range or ctid batch). Anything else (no WHERE, a "
        "range or predicate on non-key columns such as `col IS NULL`, a join or subquery without a "
        "bound, `WHERE true`) is a full-table backfill or delete: an error inside the migration "
        "transaction (also when a write-blocking lock is already held), and a warning in an "
        "autocommit block, where it is still one statement, so one long transaction holding the lock "
        "of every row it changes. A targeted data fix (`WHERE id = 5`) in the transaction is a warning. "
        "An INSERT … ON CONFLICT DO UPDATE and a MERGE whose rows come from a table or query (not a "
        "VALUES list, a targeted upsert) count as full-table backfills too."
    )
    bad_example, good_example = example("backfill")

    def check(self, ctx):
        if failed(ctx):
            return
        for verb, table, bound, node in _writes(ctx):
            yield from self._judge(ctx, verb, table, bound, node)

    def _judge(self, ctx, verb, table, bound, node):
        what = "delete" if verb == "DELETE" else "backfill"
        # (the recipes write batched UPDATE/DELETE forms; an upsert or MERGE gets the message alone)
        top_level = node is ctx.node and isinstance(node, (ast.UpdateStmt, ast.DeleteStmt))
        fix = hint_for(self.id, ctx) if top_level else None
        if not ctx.statement.in_transaction:
            if bound.bounded:
                return
            # one unbatched statement is one transaction, wherever it runs: every row it changes stays
            # locked (concurrent UPDATE/DELETE of them wait) until it ends, in one burst of WAL
            yield self.finding(
                ctx, f"{verb} of existing table {table} in an autocommit block is a full-table {what}: "
                     f"{bound.why}. It is still one statement, so one long transaction holding the lock of "
                     f"every row it changes until it ends (and one burst of WAL): batch it.",
                table=table, fix=fix, severity="error")
            return
        held = held_from_before(ctx)
        reasons = []
        if not bound.bounded:
            reasons.append(f"{bound.why}: a full-table {what}, every matching row changed in one transaction")
        if held:
            lk = held[0]
            reasons.append(f"the transaction already holds {lk.mode} on {lk.relation} (from {where(lk, ctx)}), "
                           f"held for the whole {verb.lower()}")
        # a targeted statement does little under a lock already held (the trace-first rule reports a scan)
        severity = "error" if not bound.bounded or (held and bound.batch) else "warning"
        if not reasons:
            reasons.append(f"it is targeted ({bound.why}), but its rows stay locked until the migration commits")
        yield self.finding(
            ctx, f"{verb} of existing table {table} runs inside the migration transaction: "
                 f"{'; '.join(reasons)}.", table=table, fix=fix, severity=severity)


def judged_tables(ctx) -> set[str]:
    """The existing tables whose rows this rule judged the statement to write (from its SQL)."""
    return {table for _verb, table, _bound, _node in _writes(ctx)}


def _writes(ctx):
    """``(verb, table, DmlBound, node)`` for each write of existing rows the statement makes: an
    UPDATE or DELETE (also one in a WITH clause), an INSERT … ON CONFLICT DO UPDATE or a MERGE whose
    rows come from a query (a VALUES list is a targeted upsert, left alone)."""
    n = ctx.node
    # a data-modifying WITH clause writes as its own statement; op.backfill's batches and the recipes'
    # are such statements, bounded by a sibling LIMITed CTE (batch AS (… LIMIT n))
    if not ctx.statement.by_ops and getattr(n, "withClause", None) is not None:
        for cte in n.withClause.ctes or ():
            inner = cte.ctequery
            if isinstance(inner, (ast.UpdateStmt, ast.DeleteStmt)) and ctx.preexisting(range_name(inner.relation)):
                verb = "UPDATE" if isinstance(inner, ast.UpdateStmt) else "DELETE"
                table = range_name(inner.relation)
                yield verb, table, classify(inner, ctx.revision.unique_keys.get(table) or [], n), inner
    if isinstance(n, (ast.UpdateStmt, ast.DeleteStmt)):
        table = range_name(n.relation)
        if ctx.preexisting(table):
            verb = "UPDATE" if isinstance(n, ast.UpdateStmt) else "DELETE"
            yield verb, table, classify(n, ctx.revision.unique_keys.get(table) or []), n
    elif isinstance(n, ast.InsertStmt) and n.onConflictClause is not None \
            and n.onConflictClause.action == OnConflictAction.ONCONFLICT_UPDATE and from_query(n.selectStmt):
        table = range_name(n.relation)
        if ctx.preexisting(table):
            yield ("INSERT … ON CONFLICT DO UPDATE", table,
                   DmlBound(False, "its rows come from a query, not a VALUES list"), n)
    elif isinstance(n, ast.MergeStmt) and any(
            w.commandType in (CmdType.CMD_UPDATE, CmdType.CMD_DELETE) for w in n.mergeWhenClauses or ()) \
            and from_query(n.sourceRelation):
        table = range_name(n.relation)
        if ctx.preexisting(table):
            yield "MERGE", table, DmlBound(False, "it merges the rows of a table or query, not a VALUES list"), n


def from_query(source) -> bool:
    """A source of rows other than a VALUES list (or a subquery of one)."""
    if isinstance(source, ast.RangeSubselect):
        source = source.subquery
    if isinstance(source, ast.SelectStmt):
        return bool(source.fromClause) or source.op != SetOperation.SETOP_NONE
    return source is not None
