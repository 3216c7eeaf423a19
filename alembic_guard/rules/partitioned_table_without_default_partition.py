from pglast import ast

from ..pg_versions import MERGE_SPLIT_PARTITIONS
from ..sql import range_name
from ._common import failed
from ._partitions import STRATEGIES, default_partition_of, nodes_of, partman_parent
from .base import PG_DOCS, Rule, register


@register
class PartitionedTableWithoutDefaultPartition(Rule):
    id = "partitioned-table-without-default-partition"
    title = "A new RANGE/LIST partitioned table with no DEFAULT partition and no plan for future partitions"
    severity = "info"
    category = "design"
    docs = PG_DOCS + "ddl-partitioning.html#DDL-PARTITIONING-DECLARATIVE"
    features = (MERGE_SPLIT_PARTITIONS,)
    rationale = (
        "A row whose partition key falls in no partition is refused (\"no partition of relation … found for "
        "row\"): for a RANGE table that is every INSERT once time passes the last range, for a LIST table every "
        "new value. Reported, as info, when a revision creates a RANGE or LIST partitioned table (HASH covers "
        "every value) and the same revision neither creates or attaches a DEFAULT partition of it nor hands it "
        "to pg_partman (a create_parent call naming it, whose maintenance creates partitions ahead). Plan "
        "partitions ahead (pg_partman's premake, or a scheduled job creating the next periods' partitions "
        "well before they are needed) and, if stray rows must not fail, add a DEFAULT partition but keep it "
        "empty: every later CREATE TABLE … PARTITION OF scans it while holding ACCESS EXCLUSIVE on the parent "
        "and on it, and a row in it that fits the new bounds makes the CREATE fail "
        "(tests/test_version_facts.py pins both on PostgreSQL 15-18)."
    )
    bad_example = ('op.execute("CREATE TABLE events (id bigint, at timestamptz NOT NULL) PARTITION BY RANGE (at)")\n'
                   'op.execute("CREATE TABLE events_2026_12 PARTITION OF events "\n'
                   '           "FOR VALUES FROM (\'2026-12-01\') TO (\'2027-01-01\')")')
    good_example = ('op.execute("CREATE TABLE events (id bigint, at timestamptz NOT NULL) PARTITION BY RANGE (at)")\n'
                    'op.execute("CREATE TABLE events_default PARTITION OF events DEFAULT")\n'
                    '# and partitions created ahead, e.g. pg_partman:\n'
                    'op.execute("SELECT partman.create_parent(\'public.events\', \'at\', \'1 month\')")')

    def check(self, ctx):
        node = ctx.node
        if failed(ctx) or not isinstance(node, ast.CreateStmt) or node.partspec is None:
            return
        strategy = STRATEGIES.get(getattr(node.partspec.strategy, "value", node.partspec.strategy))
        if strategy not in ("RANGE", "LIST"):
            return
        table = range_name(node.relation)
        later = [st.sql for st in ctx.revision.statements[ctx.statement.index + 1:] if st.observation.error is None]
        if any(default_partition_of(n, table) or partman_parent(n, table) for n in nodes_of(later)):
            return
        key = ", ".join(p.name or "(expression)" for p in node.partspec.partParams or ())
        what = ("once time passes the last range, every INSERT fails" if strategy == "RANGE"
                else "a value no partition lists fails")
        base = table.split(".")[-1]
        fix = [f'op.execute("CREATE TABLE {base}_default PARTITION OF {table} DEFAULT")  # keep it empty',
               "# and create partitions ahead: pg_partman (create_parent + its maintenance job) or a scheduled job"]
        if MERGE_SPLIT_PARTITIONS.on(ctx.server_version_num):
            fix.append(f"# rows that reach the DEFAULT partition can be moved out with ALTER TABLE {table} SPLIT "
                       f"PARTITION ({MERGE_SPLIT_PARTITIONS.label()}; it locks {table} while it moves them)")
        yield self.finding(
            ctx, f"new {strategy} partitioned table {table} ({key}) has no DEFAULT partition and this revision "
                 f"plans no future partitions: an INSERT whose key fits no partition fails; {what}.",
            table=table, detail=table, fix="\n".join(fix))
