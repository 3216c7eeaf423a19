"""The trace-first rule: whatever the SQL says, a write-blocking lock held while the statement does
work proportional to a table's size is an error."""

from pglast import ast

from ..locks import BLOCKS, LOCK_STRENGTH
from ._common import TABLE_KINDS, failed, is_version_table, where
from .base import PG_DOCS, Rule, register


def blocking_locks(ctx):
    """Write-blocking locks (SHARE or stronger) this revision holds on tables that existed before it,
    the strongest per table: ``{oid: Lock}``."""
    out = {}
    for lk in ctx.statement.own_locks():
        # lk.dangerous: on a materialized view only a lock that blocks its readers (locks.blocks_traffic)
        if not (lk.dangerous and lk.preexisting and lk.kind in TABLE_KINDS) or is_version_table(lk.relation):
            continue
        best = out.get(lk.oid)
        if best is None or LOCK_STRENGTH.get(lk.mode, 0) > LOCK_STRENGTH.get(best.mode, 0):
            out[lk.oid] = lk
    return out


def work_done(ctx) -> dict[int, list[str]]:
    """What the statement did to tables that existed before the revision, by table OID: rewrote it
    (or one of its indexes), scanned it (a seq scan: validation, SET NOT NULL, a backfill…), built
    an index on it. Measured on the shadow, not read from the SQL."""
    obs = ctx.obs
    work: dict[int, list[str]] = {}
    # TRUNCATE gives each table a new, empty file at once: no rows are read or copied, whatever the
    # counters say (the truncate rule reports it)
    if isinstance(ctx.node, ast.TruncateStmt):
        return work
    scanned = obs.scanned_oids
    bounded = _bounded_target(ctx)
    if bounded is not None:
        # an UPDATE/DELETE pinned to a few rows by a unique key: on the shadow's small tables the planner
        # picks a seq scan anyway, which says nothing about production
        scanned = [oid for oid in scanned if obs.names.get(oid) != bounded]
    # rows written matter only where the parser cannot say which (a DO block, a function call)
    written = obs.modified_oids if ctx.statement.coverage == "trace-only" else []
    for kind, oids in (("rewrites", obs.rewritten_oids), ("scans", scanned),
                       ("builds an index on", obs.built_oids), ("writes rows of", written)):
        for oid in dict.fromkeys(oids):
            work.setdefault(oid, []).append(kind)
    # a sequence has one row: ALTER SEQUENCE / ALTER COLUMN … RESTART give it a new relfilenode at
    # once, work that does not grow with any table (alter-sequence-blocks-inserts reports its lock)
    sequences = {lk.oid for lk in obs.locks if lk.kind == "S"}
    return {oid: what for oid, what in work.items() if oid in ctx.revision.preexisting_oids and oid not in sequences}


def _bounded_target(ctx) -> str | None:
    """The target table of an UPDATE/DELETE whose WHERE pins a bounded set of rows (rules/_dml.py)."""
    node = ctx.node
    if not isinstance(node, (ast.UpdateStmt, ast.DeleteStmt)):
        return None
    from ..sql import range_name
    from ._dml import classify

    # the keys were read when the revision started: after an index came or went, they may be stale
    if any(st.observation.dropped_oids or any(kind for kind in st.observation.created) for st in ctx.previous):
        return None
    table = range_name(node.relation)
    bound = classify(node, ctx.revision.unique_keys.get(table) or [])
    # a key lookup touches a few rows; a batch bound (a key range, LIMIT n) may still cover the table
    return table if bound.bounded and not bound.batch else None


@register
class BlockingLockDuringWork(Rule):
    id = "blocking-lock-during-work"
    title = "Write-blocking lock on an existing table held while the statement scans, rewrites or builds"
    severity = "error"
    generic = True
    docs = PG_DOCS + "explicit-locking.html#LOCKING-TABLES"
    rationale = (
        "The shadow saw this statement hold a lock that blocks writes (SHARE or stronger; ACCESS "
        "EXCLUSIVE also blocks reads) on a table that existed before the revision, while the same "
        "statement did work that grows with a table's size: a sequential scan (validating a "
        "constraint, SET NOT NULL, an UPDATE), a table or index rewrite (a new relfilenode), or an "
        "index build. Locks are held until the transaction ends, so every query that conflicts with "
        "the lock waits for all of that work. This rule judges by the trace alone, so it also catches "
        "SQL no specific rule recognises, DO blocks and function calls; a specific rule replaces it "
        "with a better message and fix when it explains the same lock. Find the online form: "
        "CONCURRENTLY, NOT VALID + VALIDATE CONSTRAINT, a batched backfill outside the migration "
        "transaction, or expand/contract."
    )
    bad_example = ('op.execute("DO $$ BEGIN ALTER TABLE orders ADD CONSTRAINT orders_total_check '
                   'CHECK (total >= 0); END $$")')
    good_example = ('op.execute("ALTER TABLE orders ADD CONSTRAINT orders_total_check CHECK (total >= 0) NOT VALID")\n'
                    'with op.get_context().autocommit_block():\n'
                    '    op.execute("ALTER TABLE orders VALIDATE CONSTRAINT orders_total_check")')

    def check(self, ctx):
        if failed(ctx):
            return
        work = work_done(ctx)
        if not work:
            return
        names = {lk.oid: lk.relation for lk in ctx.obs.locks}
        names.update(ctx.obs.names)
        what = "; ".join(f"{', '.join(kinds)} {names.get(oid, f'relation {oid}')}" for oid, kinds in work.items())
        st = ctx.statement
        how = ""
        if st.coverage == "trace-only":
            how = f" ({st.coverage_reason}: judged by trace only)"
        new = {id(lk) for lk in ctx.obs.new_locks}
        fix = self.good_example if st.coverage == "trace-only" else None
        locks = blocking_locks(ctx).values()
        for lk in (lk for lk in locks if id(lk) in new):
            yield self.finding(
                ctx, f"the statement{how} takes {lk.mode} on existing table {lk.relation} while it {what}: "
                     f"{BLOCKS[lk.mode]} on {lk.relation} wait until it finishes.",
                table=lk.relation, fix=fix or _advice(lk.mode), relations=[names[o] for o in work if o in names])
        # locks taken by earlier statements of the transaction: one finding for all of them
        held = sorted((lk for lk in locks if id(lk) not in new), key=lambda lk: -LOCK_STRENGTH.get(lk.mode, 0))
        if held:
            listed = ", ".join(f"{lk.mode} on {lk.relation} (since {where(lk, ctx)})" for lk in held[:4])
            more = f" and {len(held) - 4} more" if len(held) > 4 else ""
            yield self.finding(
                ctx, f"the statement{how} {what} while the transaction still holds {listed}{more}: traffic on "
                     f"{'those tables' if len(held) > 1 else held[0].relation} waits until it finishes.",
                table=held[0].relation, fix=fix or _advice(held[0].mode),
                relations=[lk.relation for lk in held[1:]])


def _advice(mode: str) -> str:
    return ("# do the work without the lock: CREATE INDEX CONCURRENTLY (autocommit_block), "
            "ADD CONSTRAINT ... NOT VALID\n# then VALIDATE CONSTRAINT in its own transaction, a batched backfill "
            "outside the migration\n# transaction (op.backfill), or expand/contract for a rewrite")
