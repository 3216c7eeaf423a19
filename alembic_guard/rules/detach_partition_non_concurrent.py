from ..sql import range_name
from ._common import failed, table_commands
from .base import PG_DOCS, Rule, register
from .render import autocommit_block, execute, q


@register
class DetachPartitionNonConcurrent(Rule):
    id = "detach-partition-non-concurrent"
    title = "DETACH PARTITION without CONCURRENTLY"
    severity = "error"
    docs = PG_DOCS + "sql-altertable.html#SQL-ALTERTABLE-DETACH-PARTITION"
    rationale = (
        "DETACH PARTITION takes ACCESS EXCLUSIVE on the parent table (and the partition): every query "
        "on the whole partitioned table waits. DETACH PARTITION … CONCURRENTLY (PostgreSQL 14+) takes "
        "SHARE UPDATE EXCLUSIVE on the parent; it cannot run in a transaction block or when the parent "
        "has a DEFAULT partition, and an interrupted one is completed with DETACH … FINALIZE."
    )
    bad_example = 'op.execute("ALTER TABLE measurements DETACH PARTITION measurements_2020")'
    good_example = autocommit_block(
        'op.execute("ALTER TABLE measurements DETACH PARTITION measurements_2020 CONCURRENTLY")')

    def check(self, ctx):
        if failed(ctx):
            return
        for parent, cmd in table_commands(ctx, "AT_DetachPartition"):
            if cmd.def_.concurrent or not ctx.preexisting(parent):
                continue
            part = range_name(cmd.def_.name)
            fix = autocommit_block(execute(f"ALTER TABLE {q(parent)} DETACH PARTITION {q(part)} CONCURRENTLY"))
            yield self.finding(
                ctx, f"DETACH PARTITION {part} takes ACCESS EXCLUSIVE on {parent}: every query on {parent} "
                     f"and all its partitions waits.", table=parent, fix=fix)
