from pglast import ast

from ..pg_versions import VersionRange
from ..sql import parse_one, range_name
from ._partitions import catalog_key, key_columns, same_table, unique_keys
from .base import PG_DOCS, Rule, register

REFUSED = "must include all partitioning columns"


def partition_key(ctx, table: str) -> tuple[list[str], bool] | None:
    """The partition key of ``table``: this statement's PARTITION BY, an earlier CREATE TABLE of the
    revision, or the catalog when the revision started (TableFacts.partition_key)."""
    node = ctx.node
    if isinstance(node, ast.CreateStmt) and node.partspec is not None:
        return key_columns(node.partspec)
    for st in reversed(ctx.previous):
        prev = parse_one(st.sql)
        if isinstance(prev, ast.CreateStmt) and prev.partspec is not None \
                and same_table(range_name(prev.relation), table):
            return key_columns(prev.partspec)
    facts = ctx.table(table) or ctx.table(table.removeprefix("public."))
    return key_columns(catalog_key(facts.partition_key)) if facts and facts.partition_key else None


@register
class PartitionKeyNotInUnique(Rule):
    id = "partition-key-not-in-unique"
    title = "A PRIMARY KEY or UNIQUE on a partitioned table without the partition key"
    severity = "warning"
    category = "design"
    docs = PG_DOCS + "ddl-partitioning.html#DDL-PARTITIONING-DECLARATIVE-LIMITATIONS"
    # primary keys and unique constraints on partitioned tables exist from PostgreSQL 11 on
    versions = VersionRange(11, None, source="https://www.postgresql.org/docs/release/11.0/ (\"Allow the creation "
                            "of primary keys, unique constraints ... on partitioned tables\")")
    rationale = (
        "PostgreSQL enforces a unique constraint on a partitioned table with one unique index per partition, "
        "so it can only promise uniqueness when every partitioning column is part of the key: it refuses "
        "anything else (\"unique constraint on partitioned table must include all partitioning columns\"), "
        "and an expression in the partition key cannot be covered at all. The revision fails on the shadow; "
        "this rule says which key columns are missing and what to declare instead: the key with the "
        "partition columns added (e.g. PRIMARY KEY (id, created_at)). If id must be unique on its own, "
        "that cannot be enforced on the partitioned table: keep it unique by construction (an identity "
        "or UUID default) or in a separate non-partitioned table."
    )
    bad_example = ('op.execute("CREATE TABLE events (id bigint PRIMARY KEY, at timestamptz NOT NULL) "\n'
                   '           "PARTITION BY RANGE (at)")')
    good_example = ('op.execute("CREATE TABLE events (id bigint, at timestamptz NOT NULL, PRIMARY KEY (id, at)) "\n'
                    '           "PARTITION BY RANGE (at)")')

    def check(self, ctx):
        if ctx.obs.error is None or REFUSED not in ctx.obs.error or ctx.node is None:
            return
        for table, kind, cols in unique_keys(ctx.node):
            key = partition_key(ctx, table)
            if key is None:
                continue
            part_cols, expression = key
            missing = [c for c in part_cols if c not in cols]
            if expression:
                yield self.finding(
                    ctx, f"{kind} ({', '.join(cols)}) on partitioned table {table} is refused: its partition key "
                         "has an expression, which no unique constraint can include.",
                    table=table, detail=f"{table} {kind}",
                    fix="# partition by plain columns, or enforce the uniqueness per partition only")
                continue
            if not missing:
                continue
            wanted = ", ".join([*cols, *missing])
            verb = "PRIMARY KEY" if kind == "PRIMARY KEY" else "UNIQUE"
            yield self.finding(
                ctx, f"{kind} ({', '.join(cols)}) on partitioned table {table} lacks the partition key column"
                     f"{'s' if len(missing) > 1 else ''} {', '.join(missing)}: PostgreSQL refuses it (each partition "
                     "has its own unique index, so uniqueness across partitions needs the partition key).",
                table=table, detail=f"{table} {kind}",
                fix=f"# declare {verb} ({wanted}) instead; uniqueness of ({', '.join(cols)}) alone cannot be "
                    "enforced on a partitioned table")
