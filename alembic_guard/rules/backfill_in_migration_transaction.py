from pglast import ast

from ..sql import range_name
from ._common import failed, held_from_before, sql_text, where
from ._dml import DmlBound, classify
from .base import PG_DOCS, Rule, register
from .render import (autocommit_block, backfill_call, backfill_plan_without_key, batched_backfill, batched_delete,
                     keyset_update, q)


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
        "of every row it changes. A targeted data fix (`WHERE id = 5`) in the transaction is a warning."
    )
    bad_example = 'op.execute("UPDATE orders SET status = \'new\' WHERE status IS NULL")'
    good_example = batched_backfill("orders", "status", "'new'", where="status IS NULL")

    def check(self, ctx):
        node = ctx.node
        if failed(ctx) or not isinstance(node, (ast.UpdateStmt, ast.DeleteStmt)):
            return
        table = range_name(node.relation)
        if not ctx.preexisting(table):
            return
        keys = ctx.revision.unique_keys.get(table) or []
        bound = classify(node, keys)
        verb = "UPDATE" if isinstance(node, ast.UpdateStmt) else "DELETE"
        what = "backfill" if verb == "UPDATE" else "delete"
        if not ctx.statement.in_transaction:
            if bound.bounded:
                return
            # one unbatched statement is one transaction, wherever it runs: every row it changes stays
            # locked (concurrent UPDATE/DELETE of them wait) until it ends, in one burst of WAL
            yield self.finding(
                ctx, f"{verb} of existing table {table} in an autocommit block is a full-table {what}: "
                     f"{bound.why}. It is still one statement, so one long transaction holding the lock of "
                     f"every row it changes until it ends (and one burst of WAL): batch it.",
                table=table, fix=_batched_fix(ctx, node, table, keys), severity="error")
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
        fix = _batched_fix(ctx, node, table, keys) if not bound.bounded else _own_transaction(node, bound)
        yield self.finding(
            ctx, f"{verb} of existing table {table} runs inside the migration transaction: "
                 f"{'; '.join(reasons)}.", table=table, fix=fix, severity=severity)


def _own_transaction(node, bound: DmlBound) -> str:
    """A targeted statement: run it in a short transaction of its own (no earlier lock held)."""
    return autocommit_block(f"# {bound.why}: a short transaction of its own, after the schema change commits",
                            f"op.get_bind().exec_driver_sql({sql_text(node)!r})")


def _with_sql(node) -> str | None:
    wc = node.withClause
    if wc is None:
        return None
    ctes = ", ".join(sql_text(c) for c in wc.ctes or ())
    return ("RECURSIVE " if wc.recursive else "") + ctes


def _target(node) -> tuple[str, str]:
    """The relation as written (``ONLY``, alias kept) and how its columns are qualified."""
    rel = node.relation
    table = range_name(rel)
    written = ("" if rel.inh else "ONLY ") + q(table)
    if rel.alias is not None:
        return f"{written} AS {q(rel.alias.aliasname)}", q(rel.alias.aliasname)
    return written, q(table)


def _batched_fix(ctx, node, table: str, keys: list[tuple[str, ...]]) -> str:
    key = tuple(keys[0]) if keys else None
    cond = sql_text(node.whereClause) if node.whereClause is not None else None
    target, ref = _target(node)
    if isinstance(node, ast.DeleteStmt):
        using = ", ".join(sql_text(u) for u in node.usingClause) if node.usingClause else None
        return batched_delete(table=table, target=target, ref=ref, where=cond, key=key, using_sql=using,
                              with_sql=_with_sql(node), partitioned=ctx.relkind(table) == "p")
    targets = [t for t in node.targetList or () if isinstance(t, ast.ResTarget)]
    plain = all(t.name and not t.indirection and not isinstance(t.val, ast.MultiAssignRef) for t in targets)
    if plain and not node.fromClause and node.relation.alias is None and node.withClause is None \
            and node.relation.inh:
        assignments = {t.name: sql_text(t.val) for t in targets}
        if key is None:
            return backfill_plan_without_key(table, assignments, where=cond)
        return backfill_call(table, assignments, where=cond, key=key)
    set_sql = _set_clause(node)
    from_sql = ", ".join(sql_text(f) for f in node.fromClause) if node.fromClause else None
    if key is None:
        return (f"# {table} has no primary key or unique key: a keyset batch walk needs one. Plan: add a primary "
                "key first\n# (a unique index built CONCURRENTLY, then op.add_primary_key_using_index), then "
                "batch this UPDATE\n# on it outside the transaction, one short transaction per batch.")
    return keyset_update(table=table, target=target, ref=ref, set_sql=set_sql, from_sql=from_sql, where=cond,
                         key=key, with_sql=_with_sql(node))


def _set_clause(node: ast.UpdateStmt) -> str:
    """The SET list printed back (``a = 1, (b, c) = (2, 3)``, ``j[1] = 4``)."""
    from pglast.stream import RawStream

    printed = RawStream()(ast.UpdateStmt(relation=ast.RangeVar(relname="x", inh=True, relpersistence="p"),
                                         targetList=node.targetList))
    return printed.split(" SET ", 1)[1]
