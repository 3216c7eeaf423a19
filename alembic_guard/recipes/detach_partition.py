"""DETACH PARTITION → DETACH PARTITION … CONCURRENTLY, outside the migration transaction (PostgreSQL 14+).

A plain DETACH PARTITION takes ACCESS EXCLUSIVE on the parent and the partition: every query on the
whole partitioned table waits (and queues behind any long query holding a lock on it). CONCURRENTLY
takes SHARE UPDATE EXCLUSIVE on the parent instead and waits for running queries in two
transactions of its own, so it cannot run in a transaction block; it is not allowed when the parent
has a DEFAULT partition, and an interrupted one is completed with DETACH PARTITION … FINALIZE.
CONCURRENTLY also leaves a CHECK constraint equal to the partition constraint on the detached table,
which a plain DETACH does not: the safe form drops it, so both end in the same schema.
Source: PostgreSQL docs, ALTER TABLE, "DETACH PARTITION".
"""

from __future__ import annotations

import copy

from pglast import ast
from pglast.enums import AlterTableType

from ..pg_versions import DETACH_PARTITION_CONCURRENTLY
from ..rewrite.plans import PlanStep
from ..rewrite.sqlrewrite import SqlRewrite, SqlStep, deparse
from ..rewrite.steps._common import pystr
from ..sql.parse import quote_ident, range_name
from ._alter_table import commands, find_command, statement
from .base import Example, Recipe, Refusal

SETUP = ('op.execute("CREATE TABLE measurements (id bigint, logdate date NOT NULL) PARTITION BY RANGE (logdate)")\n'
         'op.execute("CREATE TABLE measurements_2020 PARTITION OF measurements '
         'FOR VALUES FROM (\'2020-01-01\') TO (\'2021-01-01\')")')


def leftover_check(facts, parent: str, partition: str) -> str | None:
    """The name PostgreSQL gives the CHECK that DETACH … CONCURRENTLY adds to the partition
    (ChooseConstraintName: ``<partition>_<key columns>_check``), from the parent's partition key."""
    from pglast.visitors import Visitor

    from ..ops.create_index_concurrently import _object_name
    from ._alter_table import statement

    t = facts.table(parent)
    if t is None or not t.partition_key:
        return None
    columns: list[str] = []

    class Columns(Visitor):
        def visit_PartitionElem(self, ancestors, elem):  # noqa: N802
            if elem.name:
                columns.append(elem.name)

        def visit_ColumnRef(self, ancestors, ref):  # noqa: N802
            columns.append(ref.fields[-1].sval)

    Columns()(statement(f"CREATE TABLE x () PARTITION BY {t.partition_key}"))
    return _object_name(partition.split(".")[-1], "_".join(columns), "check")


def default_partition(facts, parent: str) -> str | None:
    """The parent's DEFAULT partition the catalog knew at the revision's start, if any."""
    for name, t in facts.tables.items():
        if t.parent == parent and t.partition_bound == "DEFAULT":
            return name
    if facts.has_default_partition is not None and facts.has_default_partition(parent):
        return f"the DEFAULT partition of {parent}"
    return None


class DetachPartition(Recipe):
    id = "detach-partition"
    title = "Detach a partition without locking the whole partitioned table"
    rules = ("detach-partition-non-concurrent",)
    nodes = (ast.AlterTableStmt,)
    docs = "https://www.postgresql.org/docs/current/sql-altertable.html#SQL-ALTERTABLE-DETACH-PARTITION"
    rationale = __doc__.split("\n\n", 1)[1].rsplit("Source:", 1)[0]
    examples = (
        Example(
            title="raw SQL",
            setup=SETUP,
            bad='op.execute("ALTER TABLE measurements DETACH PARTITION measurements_2020")',
            good=('with op.get_context().autocommit_block():\n'
                  '    op.execute("ALTER TABLE measurements DETACH PARTITION measurements_2020 CONCURRENTLY")\n'
                  '# the CHECK CONCURRENTLY leaves on the detached table\n'
                  'op.execute("ALTER TABLE measurements_2020 DROP CONSTRAINT IF EXISTS "\n'
                  '           "measurements_2020_logdate_check")')),
        Example(
            title="a parent with a DEFAULT partition: no CONCURRENTLY, a plan",
            setup=SETUP + '\nop.execute("CREATE TABLE measurements_default PARTITION OF measurements DEFAULT")',
            fixed="plan",
            bad='op.execute("ALTER TABLE measurements DETACH PARTITION measurements_2020")',
            good=('import alembic_guard.ops  # noqa: F401  (registers op.run_with_lock_timeout & co.)\n'
                  'op.run_with_lock_timeout("ALTER TABLE measurements DETACH PARTITION measurements_2020")')),
    )

    def rewrite_sql(self, node, facts) -> SqlRewrite | None:
        i = find_command(node, lambda c: c.subtype == AlterTableType.AT_DetachPartition)
        if i is None or len(commands(node)) != 1:
            return None
        part = commands(node)[i].def_
        if part.concurrent or getattr(part, "finalize", False):
            return None
        parent = range_name(node.relation)
        child = range_name(part.name)
        default = default_partition(facts, parent)
        if not DETACH_PARTITION_CONCURRENTLY.on(facts.server_version_num) or default:
            why = (f"{parent} has a DEFAULT partition ({default}): DETACH … CONCURRENTLY is not allowed" if default
                   else f"DETACH PARTITION … CONCURRENTLY needs {DETACH_PARTITION_CONCURRENTLY.label()}")
            raise Refusal(why, plan=[PlanStep(
                f"detach {child} in a revision of its own, under a short lock_timeout with retries (the DETACH is "
                f"instant, but ACCESS EXCLUSIVE on {parent} queues every query behind it while it waits)",
                "import alembic_guard.ops  # noqa: F401  (registers op.run_with_lock_timeout & co.)\n"
                f"op.run_with_lock_timeout({pystr(deparse(node))})")])
        out = copy.deepcopy(node)
        commands(out)[i].def_.concurrent = True
        steps = [SqlStep(deparse(out), autocommit=True)]
        check = leftover_check(facts, parent, child)
        if check:
            drop = statement(f"ALTER TABLE {deparse(part.name)} DROP CONSTRAINT IF EXISTS {quote_ident(check)}")
            steps.append(SqlStep(deparse(drop)))
        return SqlRewrite(what=f"DETACH PARTITION {child} from {parent} → CONCURRENTLY (SHARE UPDATE EXCLUSIVE on "
                               "the parent), outside the transaction", steps=steps)
