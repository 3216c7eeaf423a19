"""ATTACH PARTITION of an existing table → a validated CHECK implying the bound first, so ATTACH does not scan.

ATTACH PARTITION takes SHARE UPDATE EXCLUSIVE on the parent (PostgreSQL 12+) but ACCESS EXCLUSIVE
on the partition, and scans the partition to prove every row fits the bound while holding it. The
scan is skipped when a valid CHECK constraint of the partition implies the partition constraint:
add ``CHECK (<the bound as a condition on the partition key>) NOT VALID`` (instant), VALIDATE it in
a transaction of its own (SHARE UPDATE EXCLUSIVE: reads and writes go on), ATTACH (no scan now), drop
the CHECK. The condition is PostgreSQL's implicit partition constraint: for RANGE, every key column
NOT NULL and lower <= key < upper (several columns compared column by column, MINVALUE / MAXVALUE ends
left open); for LIST, key IN (…), with
OR key IS NULL when NULL is listed. A DEFAULT partition of the parent is scanned (under ACCESS
EXCLUSIVE) too, to prove none of its rows belongs to the new partition: a validated CHECK (NOT
(<condition>)) on it skips that scan the same way. HASH bounds and a DEFAULT partition being
attached have no such condition: a plan.
Source: PostgreSQL docs, ALTER TABLE, "ATTACH PARTITION", and "Partitioning", 5.12.2.2.
"""

from __future__ import annotations

import copy

from pglast import ast
from pglast.enums import AlterTableType

from ..rewrite.plans import PlanStep
from ..rewrite.sqlrewrite import SqlRewrite, SqlStep, deparse
from ..rewrite.steps._common import pystr
from ..sql.parse import quote_ident, range_name
from ._alter_table import commands, find_command, hint_of, statement, validate_step
from .base import Example, Hint, Recipe, Refusal

SETUP = ('op.execute("CREATE TABLE events (id bigint NOT NULL, payload text) PARTITION BY RANGE (id)")\n'
         'op.execute("CREATE TABLE events_1 (id bigint NOT NULL, payload text)")')

MINMAX = ("minvalue", "maxvalue")


def partition_key(definition: str) -> tuple[str, list[str]]:
    """(strategy ``r``/``l``/``h``, the key columns/expressions as SQL) of ``pg_get_partkeydef``
    text such as ``RANGE (created_at)``, read by parsing ``CREATE TABLE x () PARTITION BY <key>``."""
    spec = statement(f"CREATE TABLE x () PARTITION BY {definition}").partspec
    keys = []
    for elem in spec.partParams:
        if elem.opclass:
            raise Refusal(f"the partition key {definition} uses an operator class: the bound cannot be written as a "
                          "CHECK with the default operators")
        sql = quote_ident(elem.name) if elem.name else f"({deparse(elem.expr)})"
        if elem.collation:
            sql = f"({sql} COLLATE {'.'.join(quote_ident(s.sval) for s in elem.collation)})"
        keys.append(sql)
    return spec.strategy.value if hasattr(spec.strategy, "value") else str(spec.strategy), keys


def _infinite(datum) -> str | None:
    if isinstance(datum, ast.ColumnRef) and len(datum.fields) == 1 and isinstance(datum.fields[0], ast.String) \
            and datum.fields[0].sval in MINMAX:
        return datum.fields[0].sval
    return None


def _finite(datums) -> tuple[list[str], str | None]:
    """The bound's values up to the first MINVALUE/MAXVALUE (deparsed), and that marker (None: none)."""
    values = []
    for d in datums:
        marker = _infinite(d)
        if marker:
            return values, marker
        values.append(deparse(d))
    return values, None


def _lexicographic(keys: list[str], values: list[str], marker: str | None, start: int, lower: bool) -> str | None:
    """``keys[start:] >= values[start:]`` (or ``<`` for the upper end) spelled out as PostgreSQL
    spells its partition constraint, one OR arm per column: ``(b > 2) OR (b = 2 AND c >= 3)``. A row
    comparison ``(b, c) >= (2, 3)`` says the same but PostgreSQL's proof that the CHECK implies the
    partition constraint does not see through it (ATTACH would scan). None: this end is open."""
    if len(values) <= start:
        if not values and marker == ("maxvalue" if lower else "minvalue"):
            raise Refusal("the bound starts at MAXVALUE or ends at MINVALUE: the partition is empty")
        return None
    last_inclusive = (marker != "maxvalue") if lower else (marker == "maxvalue")
    strict, inclusive = (">", ">=") if lower else ("<", "<=")
    arms = []
    for j in range(start, len(values)):
        op = (inclusive if last_inclusive else strict) if j == len(values) - 1 else strict
        equal = [f"{keys[k]} = {values[k]}" for k in range(start, j)]
        arms.append(" AND ".join([*equal, f"{keys[j]} {op} {values[j]}"]))
    if len(arms) == 1:
        return arms[0]
    return "(" + " OR ".join(f"({arm})" if " AND " in arm else arm for arm in arms) + ")"


def _range_condition(keys: list[str], bound) -> list[str]:
    lower, low_marker = _finite(bound.lowerdatums)
    upper, up_marker = _finite(bound.upperdatums)
    # leading columns whose lower and upper values are equal: ``a = 1`` (as PostgreSQL writes it)
    start = 0
    while start < min(len(lower), len(upper)) - 1 and lower[start] == upper[start]:
        start += 1
    parts = [f"{keys[k]} = {lower[k]}" for k in range(start)]
    parts += [c for c in (_lexicographic(keys, lower, low_marker, start, True),
                          _lexicographic(keys, upper, up_marker, start, False)) if c]
    return parts


def bound_condition(bound: ast.PartitionBoundSpec, strategy: str, keys: list[str]) -> str:
    """The partition constraint PostgreSQL derives from ``bound`` (its implicit CHECK), as SQL."""
    if bound.is_default:
        raise Refusal("a DEFAULT partition's constraint is the negation of every other partition's bound: "
                      "no single CHECK to validate first")
    if strategy == "h" or bound.strategy == "h":
        raise Refusal("a HASH bound has no condition a CHECK can state with the default operators")
    if strategy == "r":
        return " AND ".join([f"{k} IS NOT NULL" for k in keys] + _range_condition(keys, bound))
    (key,) = keys
    values = [deparse(d) for d in bound.listdatums if not (isinstance(d, ast.A_Const) and d.isnull)]
    has_null = len(values) < len(bound.listdatums)
    listed = f"{key} IN ({', '.join(values)})" if values else None
    if has_null:
        return f"{key} IS NULL" + (f" OR {listed}" if listed else "")
    return f"{key} IS NOT NULL AND {listed}"


def check_name(relname: str) -> str:
    return f"{relname}_partition_bound"[:63]


def default_partition(facts, parent: str) -> str | None:
    return next((n for n, t in facts.tables.items() if t.parent == parent and t.partition_bound == "DEFAULT"), None)


def _relation(name: str) -> ast.RangeVar:
    schema, _, rel = name.rpartition(".")
    return ast.RangeVar(relname=rel, schemaname=schema or None, inh=True, relpersistence="p")


def _checked(relation: ast.RangeVar, name: str, condition: str) -> list[SqlStep]:
    add = statement(f"ALTER TABLE {deparse(relation)} ADD CONSTRAINT {quote_ident(name)} CHECK ({condition}) "
                    "NOT VALID")
    return [SqlStep(deparse(add)), validate_step(relation, name)]


def _dropped(relation: ast.RangeVar, name: str) -> SqlStep:
    return SqlStep(deparse(statement(f"ALTER TABLE {deparse(relation)} DROP CONSTRAINT {quote_ident(name)}")))


class AttachPartition(Recipe):
    id = "attach-partition"
    title = "Attach a partition without a scan under ACCESS EXCLUSIVE"
    rules = ("attach-partition-scans",)
    nodes = (ast.AlterTableStmt,)
    docs = "https://www.postgresql.org/docs/current/sql-altertable.html#SQL-ALTERTABLE-ATTACH-PARTITION"
    rationale = __doc__.split("\n\n", 1)[1].rsplit("Source:", 1)[0]
    examples = (
        Example(
            title="a RANGE partition",
            setup=SETUP,
            bad='op.execute("ALTER TABLE events ATTACH PARTITION events_1 FOR VALUES FROM (1) TO (1000001)")',
            good=('op.execute("SET LOCAL lock_timeout = \'2s\'")\n'
                  'op.execute("ALTER TABLE events_1 ADD CONSTRAINT events_1_partition_bound '
                  'CHECK (id IS NOT NULL AND id >= 1 AND id < 1000001) NOT VALID")\n'
                  'with op.get_context().autocommit_block():\n'
                  '    op.execute("ALTER TABLE events_1 VALIDATE CONSTRAINT events_1_partition_bound")\n'
                  'op.execute("SET LOCAL lock_timeout = \'2s\'")\n'
                  'op.execute("ALTER TABLE events ATTACH PARTITION events_1 FOR VALUES FROM (1) TO (1000001)")\n'
                  'op.execute("ALTER TABLE events_1 DROP CONSTRAINT events_1_partition_bound")')),
        Example(
            title="a LIST partition with NULL, next to a DEFAULT partition",
            setup=('op.execute("CREATE TABLE customers (id bigint, region text) PARTITION BY LIST (region)")\n'
                   'op.execute("CREATE TABLE customers_other PARTITION OF customers DEFAULT")\n'
                   # (no row of customers_eu has a region yet: NULL is in its list)
                   'op.execute("CREATE TABLE customers_eu (id bigint, region text DEFAULT \'eu\')")'),
            bad='op.execute("ALTER TABLE customers ATTACH PARTITION customers_eu FOR VALUES IN (\'eu\', NULL)")',
            good=('op.execute("SET LOCAL lock_timeout = \'2s\'")\n'
                  'op.execute("ALTER TABLE customers_eu ADD CONSTRAINT customers_eu_partition_bound '
                  'CHECK (region IS NULL OR region IN (\'eu\')) NOT VALID")\n'
                  'op.execute("ALTER TABLE customers_other ADD CONSTRAINT customers_eu_partition_bound '
                  'CHECK (NOT (region IS NULL OR region IN (\'eu\'))) NOT VALID")\n'
                  'with op.get_context().autocommit_block():\n'
                  '    op.execute("ALTER TABLE customers_eu VALIDATE CONSTRAINT customers_eu_partition_bound")\n'
                  '    op.execute("ALTER TABLE customers_other VALIDATE CONSTRAINT customers_eu_partition_bound")\n'
                  'op.execute("SET LOCAL lock_timeout = \'2s\'")\n'
                  'op.execute("ALTER TABLE customers ATTACH PARTITION customers_eu FOR VALUES IN (\'eu\', NULL)")\n'
                  'op.execute("ALTER TABLE customers_eu DROP CONSTRAINT customers_eu_partition_bound")\n'
                  'op.execute("ALTER TABLE customers_other DROP CONSTRAINT customers_eu_partition_bound")')),
        Example(
            title="a RANGE partition on two columns (the bound spelled out column by column)",
            setup=('op.execute("CREATE TABLE readings (sensor_id int NOT NULL, seq int NOT NULL) '
                   'PARTITION BY RANGE (sensor_id, seq)")\n'
                   'op.execute("CREATE TABLE readings_a (sensor_id int NOT NULL, seq int NOT NULL)")\n'
                   '# the table being attached holds its rows already (the proof seeds only empty tables)\n'
                   'op.execute("INSERT INTO readings_a VALUES (1, 1), (2, 99), (3, 3)")'),
            bad='op.execute("ALTER TABLE readings ATTACH PARTITION readings_a FOR VALUES FROM (1, 1) TO (3, 4)")',
            good=('op.execute("SET LOCAL lock_timeout = \'2s\'")\n'
                  'op.execute("ALTER TABLE readings_a ADD CONSTRAINT readings_a_partition_bound CHECK ('
                  'sensor_id IS NOT NULL AND seq IS NOT NULL AND (sensor_id > 1 OR (sensor_id = 1 AND seq >= 1)) '
                  'AND (sensor_id < 3 OR (sensor_id = 3 AND seq < 4))) NOT VALID")\n'
                  'with op.get_context().autocommit_block():\n'
                  '    op.execute("ALTER TABLE readings_a VALIDATE CONSTRAINT readings_a_partition_bound")\n'
                  'op.execute("SET LOCAL lock_timeout = \'2s\'")\n'
                  'op.execute("ALTER TABLE readings ATTACH PARTITION readings_a FOR VALUES FROM (1, 1) TO (3, 4)")\n'
                  'op.execute("ALTER TABLE readings_a DROP CONSTRAINT readings_a_partition_bound")')),
        Example(
            title="a HASH partition: no CHECK can state the bound, a plan",
            setup=('op.execute("CREATE TABLE sessions (id bigint, user_id bigint) PARTITION BY HASH (user_id)")\n'
                   'op.execute("CREATE TABLE sessions_0 (id bigint, user_id bigint)")'),
            fixed="plan",
            bad=('op.execute("ALTER TABLE sessions ATTACH PARTITION sessions_0 '
                 'FOR VALUES WITH (MODULUS 2, REMAINDER 0)")'),
            good=('op.execute("SET LOCAL lock_timeout = \'2s\'")\n'
                  'op.execute("CREATE TABLE sessions_0_new PARTITION OF sessions '
                  'FOR VALUES WITH (MODULUS 2, REMAINDER 0)")')),
    )

    def rewrite_sql(self, node, facts) -> SqlRewrite | None:
        i = find_command(node, lambda c: c.subtype == AlterTableType.AT_AttachPartition)
        if i is None or len(commands(node)) != 1:
            return None
        parent = range_name(node.relation)
        cmd = commands(node)[i].def_
        child = range_name(cmd.name)
        if not facts.preexisting(child):
            return None  # a table created in this revision is empty: the scan costs nothing
        try:
            t = facts.table(parent)
            if t is None or not t.partition_key:
                raise Refusal(f"the partition key of {parent} is not in the catalog at the revision's start (is "
                              f"{parent} created in this revision?): attach in the revision after it")
            strategy, keys = partition_key(t.partition_key)
            condition = bound_condition(cmd.bound, strategy, keys)
        except Refusal as exc:
            raise Refusal(exc.reason, plan=exc.plan or self.plan(node, parent, child)) from None
        name = check_name(cmd.name.relname)
        default = default_partition(facts, parent)
        steps = _checked(cmd.name, name, condition)
        if default:
            steps += _checked(_relation(default), name, f"NOT ({condition})")
        steps.append(SqlStep(deparse(node)))
        steps.append(_dropped(cmd.name, name))
        if default:
            steps.append(_dropped(_relation(default), name))
        return SqlRewrite(what=f"ATTACH PARTITION {child} to {parent} → CHECK implying the bound NOT VALID, "
                               "VALIDATE in its own transaction, ATTACH (no scan), DROP the CHECK", steps=steps)

    def plan(self, node, parent: str, child: str) -> list[PlanStep]:
        return [PlanStep(
            f"attach {child} when it is small or traffic is low, under a short lock_timeout with retries "
            f"(the scan holds ACCESS EXCLUSIVE on {child}; {parent} keeps SHARE UPDATE EXCLUSIVE); or create "
            f"the partition empty with CREATE TABLE … PARTITION OF {parent} and copy the rows in batches",
            "import alembic_guard.ops  # noqa: F401  (registers op.run_with_lock_timeout & co.)\n"
            f"op.run_with_lock_timeout({pystr(deparse(node))})")]

    def hint(self, node, facts) -> Hint | None:
        try:
            rw = self.rewrite_sql(copy.deepcopy(node), facts)
        except Refusal as exc:
            return Hint(refused=exc.reason, plan=exc.plan)
        if rw is None:
            return None
        default = default_partition(facts, range_name(node.relation))
        notes = [f"{default} (the DEFAULT partition) is scanned by ATTACH too: its CHECK (NOT …) above skips it"] \
            if default else []
        return hint_of(rw.steps, *notes)
