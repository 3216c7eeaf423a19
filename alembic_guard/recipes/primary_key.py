"""ADD PRIMARY KEY on an existing table → NOT NULL without a scan, a unique index CONCURRENTLY, then
ADD CONSTRAINT … PRIMARY KEY USING INDEX.

ADD PRIMARY KEY builds its index under ACCESS EXCLUSIVE and, for a nullable key column, runs SET NOT
NULL, which scans the table under the same lock; so does ADD PRIMARY KEY USING INDEX. The safe form
makes each nullable key column NOT NULL through a validated CHECK (the set-not-null recipe), builds
the unique index CONCURRENTLY (the create-index recipe) and attaches it (catalog only).
Source: PostgreSQL docs, ALTER TABLE, "ADD table_constraint_using_index" and "SET/DROP NOT NULL".
"""

from __future__ import annotations

import copy

from pglast import ast
from pglast.enums import AlterTableType, ConstrType

from ..rewrite.opcall import Call
from ..rewrite.outcome import Outcome
from ..rewrite.sqlrewrite import SqlRewrite, SqlStep, deparse
from ..sql.parse import parse_one, range_name
from ._alter_table import around, commands, find_command
from .base import Example, Recipe, Refusal
from .set_not_null import not_null_steps
from .unique_constraint import build_then_attach, rewrite_constraint_op

SETUP = 'op.execute("CREATE TABLE events (id bigint, kind text)")'


def nullable_steps(facts, table: str):
    """``before`` for build_then_attach: the set-not-null steps of each key column the catalog does
    not know as NOT NULL."""
    def steps(relation: ast.RangeVar, columns: list[str]) -> list[SqlStep]:
        t = facts.table(table)
        out: list[SqlStep] = []
        for c in columns:
            if not (t and c in t.not_null):
                out += not_null_steps(relation, c)
        return out
    return steps


class PrimaryKey(Recipe):
    id = "primary-key"
    title = "Add a primary key without a build or a scan under ACCESS EXCLUSIVE"
    rules = ("unique-constraint-builds-index",)
    ops = ("create_primary_key",)
    nodes = (ast.AlterTableStmt,)
    docs = "https://www.postgresql.org/docs/current/sql-altertable.html#SQL-ALTERTABLE-DESC-ADD-TABLE-CONSTRAINT-USING-INDEX"
    rationale = __doc__.split("\n\n", 1)[1].rsplit("Source:", 1)[0]
    examples = (
        Example(
            title="op.create_primary_key",
            setup=SETUP,
            bad='op.create_primary_key("events_pkey", "events", ["id"])',
            good=('import alembic_guard.ops  # noqa: F401  (registers op.add_primary_key_using_index & co.)\n'
                  'op.add_primary_key_using_index("events_pkey", "events", ["id"])')),
        Example(
            title="raw SQL on a nullable column",
            setup=SETUP,
            bad='op.execute("ALTER TABLE events ADD PRIMARY KEY (id)")',
            good=('import alembic_guard.ops  # noqa: F401  (registers op.add_primary_key_using_index & co.)\n'
                  'op.add_primary_key_using_index("events_pkey", "events", ["id"])')),
    )

    def rewrite_sql(self, node, facts) -> SqlRewrite | None:
        table = range_name(node.relation)
        rw = build_then_attach(node, facts, ConstrType.CONSTR_PRIMARY, "PRIMARY KEY", "pkey",
                               before=nullable_steps(facts, table))
        if rw is not None or not facts.preexisting(table):
            return rw
        return self.using_index(node, facts, table)

    def using_index(self, node, facts, table: str) -> SqlRewrite | None:
        """ADD PRIMARY KEY USING INDEX: the index's nullable columns made NOT NULL first."""
        i = find_command(node, lambda c: c.subtype == AlterTableType.AT_AddConstraint
                         and isinstance(c.def_, ast.Constraint) and c.def_.contype == ConstrType.CONSTR_PRIMARY
                         and c.def_.indexname)
        if i is None:
            return None
        con = commands(node)[i].def_
        t = facts.table(table)
        definition = parse_one(t.indexes[con.indexname]) if t and con.indexname in t.indexes else None
        if not isinstance(definition, ast.IndexStmt):
            raise Refusal(f"the index {con.indexname} is not in the catalog at the revision's start: make its columns "
                          "NOT NULL through the set-not-null recipe before ADD PRIMARY KEY USING INDEX")
        columns = [p.name for p in definition.indexParams or () if getattr(p, "name", None)]
        nullable = [c for c in columns if c not in t.not_null]
        if not nullable:
            return None
        one = copy.deepcopy(node)
        one.cmds = (commands(one)[i],)
        steps = [s for c in nullable for s in not_null_steps(node.relation, c)] + [SqlStep(deparse(one))]
        return SqlRewrite(what=f"PRIMARY KEY {con.conname} USING INDEX {con.indexname} → its columns NOT NULL "
                               "through a validated CHECK first (no scan under ACCESS EXCLUSIVE)",
                          steps=around(node, i, steps))


    def rewrite_op(self, call: Call, facts) -> Outcome | None:
        return rewrite_constraint_op(call, facts, primary=True)
