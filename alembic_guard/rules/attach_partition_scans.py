
from ..sql import range_name
from ._common import failed, sql_text, table_commands, table_lock
from .base import PG_DOCS, Rule, register
from .render import LOCK_TIMEOUT, autocommit_block, execute, lines, q


def bound_check(bound, key: str) -> str:
    if bound is None:
        return f"{key} IS NOT NULL AND <partition bounds>"
    if bound.strategy == "r":
        lo = ", ".join(sql_text(d) for d in bound.lowerdatums or ())
        hi = ", ".join(sql_text(d) for d in bound.upperdatums or ())
        return f"{key} IS NOT NULL AND {key} >= {lo} AND {key} < {hi}"
    if bound.strategy == "l":
        vals = ", ".join(sql_text(d) for d in bound.listdatums or ())
        return f"{key} IS NOT NULL AND {key} IN ({vals})"
    return f"{key} IS NOT NULL AND <partition bounds>"


@register
class AttachPartitionScans(Rule):
    id = "attach-partition-scans"
    title = "ATTACH PARTITION that scans the partition (or the DEFAULT partition)"
    severity = "error"
    docs = PG_DOCS + "sql-altertable.html#SQL-ALTERTABLE-ATTACH-PARTITION"
    rationale = (
        "ATTACH PARTITION takes SHARE UPDATE EXCLUSIVE on the parent (PostgreSQL 12+) but ACCESS "
        "EXCLUSIVE on the partition, and scans it to prove every row fits the bounds; it also scans the "
        "DEFAULT partition, if any, to prove no row there belongs to the new partition. The scan is "
        "skipped when a validated CHECK constraint already implies the bounds: add it NOT VALID, "
        "VALIDATE it in its own transaction, ATTACH (instant), then drop the CHECK."
    )
    bad_example = 'op.execute("ALTER TABLE measurements ATTACH PARTITION measurements_2026 "\n' \
                  '           "FOR VALUES FROM (\'2026-01-01\') TO (\'2027-01-01\')")'
    good_example = lines(
        LOCK_TIMEOUT,
        'op.execute("ALTER TABLE measurements_2026 ADD CONSTRAINT measurements_2026_bounds CHECK ("\n'
        '           "logdate IS NOT NULL AND logdate >= \'2026-01-01\' AND logdate < \'2027-01-01\') NOT VALID")',
        autocommit_block('op.execute("ALTER TABLE measurements_2026 VALIDATE CONSTRAINT measurements_2026_bounds")'),
        'op.execute("ALTER TABLE measurements ATTACH PARTITION measurements_2026 "\n'
        '           "FOR VALUES FROM (\'2026-01-01\') TO (\'2027-01-01\')")',
        'op.execute("ALTER TABLE measurements_2026 DROP CONSTRAINT measurements_2026_bounds")')

    def check(self, ctx):
        if failed(ctx):
            return
        for parent, cmd in table_commands(ctx, "AT_AttachPartition"):
            part = range_name(cmd.def_.name)
            scanned = [t for t in ctx.obs.seq_scans if ctx.preexisting(t)]
            if not scanned:
                continue
            ck = f"{part.split('.')[-1]}_bounds"
            cond = bound_check(cmd.def_.bound, "<partition key>")
            steps = [LOCK_TIMEOUT]
            if part in scanned:
                steps += [execute(f"ALTER TABLE {q(part)} ADD CONSTRAINT {q(ck)} CHECK ({cond}) NOT VALID"),
                          autocommit_block(execute(f"ALTER TABLE {q(part)} VALIDATE CONSTRAINT {q(ck)}"))]
            others = [t for t in scanned if t != part]
            for d in others:
                steps.append(f"# {d} (DEFAULT partition): add and validate a CHECK (NOT ({cond})) the same way")
            steps.append(execute(ctx.sql))
            if part in scanned:
                steps.append(execute(f"ALTER TABLE {q(part)} DROP CONSTRAINT {q(ck)}"))
            locks = ", ".join(f"{table_lock(ctx, t)} on {t}" for t in scanned)
            yield self.finding(
                ctx, f"ATTACH PARTITION {part} to {parent} scans {', '.join(scanned)} under {locks}: queries "
                     f"on {', '.join(scanned)} wait for the scan. A validated CHECK implying the bounds "
                     f"avoids it.", table=scanned[0], fix=lines(*steps))
