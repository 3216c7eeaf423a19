from ..pg_versions import DETACH_PARTITION_CONCURRENTLY
from ..sql import range_name
from ._common import failed, table_commands
from .base import PG_DOCS, Rule, register
from .recipe_hint import example, hint_for


@register
class DetachPartitionNonConcurrent(Rule):
    id = "detach-partition-non-concurrent"
    title = "DETACH PARTITION without CONCURRENTLY"
    severity = "error"
    docs = PG_DOCS + "sql-altertable.html#SQL-ALTERTABLE-DETACH-PARTITION"
    features = (DETACH_PARTITION_CONCURRENTLY,)
    rationale = (
        "DETACH PARTITION takes ACCESS EXCLUSIVE on the parent table (and the partition): every query "
        "on the whole partitioned table waits. DETACH PARTITION … CONCURRENTLY (PostgreSQL 14+) takes "
        "SHARE UPDATE EXCLUSIVE on the parent; it cannot run in a transaction block or when the parent "
        "has a DEFAULT partition, and an interrupted one is completed with DETACH … FINALIZE."
    )
    bad_example, good_example = example("detach-partition")

    def check(self, ctx):
        if failed(ctx):
            return
        for parent, cmd in table_commands(ctx, "AT_DetachPartition"):
            if cmd.def_.concurrent or not ctx.preexisting(parent):
                continue
            part = range_name(cmd.def_.name)
            fix = hint_for(self.id, ctx)
            default = any(t.parent == parent and t.partition_bound == "DEFAULT" for t in ctx.revision.tables.values())
            # With a DEFAULT partition there is no CONCURRENTLY: under a lock_timeout the plain DETACH
            # (instant) is the best there is, so only a warning remains.
            severity = "warning" if default and ctx.obs.lock_timeout_ms else None
            yield self.finding(
                ctx, f"DETACH PARTITION {part} takes ACCESS EXCLUSIVE on {parent}: every query on {parent} "
                     f"and all its partitions waits"
                     + (" (no CONCURRENTLY: the parent has a DEFAULT partition)." if default else "."),
                table=parent, fix=fix, severity=severity)
