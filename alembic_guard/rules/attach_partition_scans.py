from ..pg_versions import ATTACH_PARTITION_SHARE_UPDATE_EXCLUSIVE
from ..sql import range_name
from ._common import failed, table_commands, table_lock
from .base import PG_DOCS, Rule, register
from .recipe_hint import example, hint_for


@register
class AttachPartitionScans(Rule):
    id = "attach-partition-scans"
    title = "ATTACH PARTITION that scans the partition (or the DEFAULT partition)"
    severity = "error"
    docs = PG_DOCS + "sql-altertable.html#SQL-ALTERTABLE-ATTACH-PARTITION"
    features = (ATTACH_PARTITION_SHARE_UPDATE_EXCLUSIVE,)
    rationale = (
        "ATTACH PARTITION takes SHARE UPDATE EXCLUSIVE on the parent (PostgreSQL 12+) but ACCESS "
        "EXCLUSIVE on the partition, and scans it to prove every row fits the bounds; it also scans the "
        "DEFAULT partition, if any, to prove no row there belongs to the new partition. The scan is "
        "skipped when a validated CHECK constraint already implies the bounds: add it NOT VALID, "
        "VALIDATE it in its own transaction, ATTACH (instant), then drop the CHECK."
    )
    bad_example, good_example = example("attach-partition")

    def check(self, ctx):
        if failed(ctx):
            return
        for parent, cmd in table_commands(ctx, "AT_AttachPartition"):
            part = range_name(cmd.def_.name)
            scanned = [t for t in ctx.obs.seq_scans if ctx.preexisting(t)]
            if not scanned:
                continue
            locks = ", ".join(f"{table_lock(ctx, t)} on {t}" for t in scanned)
            yield self.finding(
                ctx, f"ATTACH PARTITION {part} to {parent} scans {', '.join(scanned)} under {locks}: queries "
                     f"on {', '.join(scanned)} wait for the scan. A validated CHECK implying the bounds "
                     f"avoids it.", table=scanned[0], fix=hint_for(self.id, ctx))
