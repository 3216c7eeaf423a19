"""The trace-first rule: whatever the SQL says, a write-blocking lock held while the statement does
work proportional to a table's size is an error."""

from pglast import ast

from ..model import BLOCKS, LOCK_STRENGTH
from ._common import TABLE_KINDS, failed, is_version_table, where
from .base import PG_DOCS, Rule, register


def blocking_locks(ctx):
    """Write-blocking locks (SHARE or stronger) this revision holds on tables that existed before it,
    the strongest per table: ``{oid: Lock}``."""
    out = {}
    for lk in ctx.statement.own_locks():
        if not (lk.dangerous and lk.preexisting and lk.kind in TABLE_KINDS) or is_version_table(lk.relation):
            continue
        if lk.kind == "m" and lk.mode != "ACCESS EXCLUSIVE":
            continue  # nobody writes to a materialized view: only a lock that blocks its readers counts
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
    for kind, oids in (("rewrites", obs.rewritten_oids), ("scans", obs.scanned_oids),
                       ("builds an index on", obs.built_oids)):
        for oid in dict.fromkeys(oids):
            work.setdefault(oid, []).append(kind)
    return {oid: what for oid, what in work.items() if oid in ctx.revision.preexisting_oids}


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
        for lk in blocking_locks(ctx).values():
            since = "takes" if id(lk) in new else f"still holds (since {where(lk, ctx)})"
            yield self.finding(
                ctx, f"the statement{how} {since} {lk.mode} on existing table {lk.relation} while it {what}: "
                     f"{BLOCKS[lk.mode]} on {lk.relation} wait until it finishes.",
                table=lk.relation, fix=self.good_example if st.coverage == "trace-only" else _advice(lk.mode),
                relations=[names[o] for o in work if o in names])


def _advice(mode: str) -> str:
    return ("# do the work without the lock: CREATE INDEX CONCURRENTLY (autocommit_block), "
            "ADD CONSTRAINT ... NOT VALID\n# then VALIDATE CONSTRAINT in its own transaction, a batched backfill "
            "outside the migration\n# transaction (op.backfill), or expand/contract for a rewrite")
