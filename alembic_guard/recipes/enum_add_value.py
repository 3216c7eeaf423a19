"""ALTER TYPE … ADD VALUE used before it committed → the ADD VALUE in an autocommit block.

ALTER TYPE … ADD VALUE locks no table, but since PostgreSQL 12 (where it may run inside a
transaction block) the new value cannot be used until the transaction that added it has committed:
an INSERT, UPDATE, DEFAULT or CHECK using it fails with "unsafe use of new value" (SQLSTATE 55P04).
The safe form runs the ADD VALUE in ``op.get_context().autocommit_block()``, which commits it at
once (and, as Alembic documents, commits the revision's earlier statements first), with IF NOT EXISTS
so that a retried migration does not fail on the value it already added; the statements that use the
value run after it, as before. Before PostgreSQL 12 ADD VALUE cannot run in a transaction block at
all, so the same form applies there.
Source: PostgreSQL docs, ALTER TYPE, "Notes".
"""

from __future__ import annotations

import copy

from pglast import ast

from ..rewrite.sqlrewrite import SqlRewrite, SqlStep, deparse
from .base import Example, Recipe

SETUP = ('op.execute("CREATE TYPE order_status AS ENUM (\'new\', \'paid\')")\n'
         'op.execute("CREATE TABLE orders (id bigint PRIMARY KEY, status order_status)")')


class EnumAddValue(Recipe):
    id = "enum-add-value"
    title = "Commit a new enum value before using it"
    rules = ("enum-value-used-before-commit",)
    nodes = (ast.AlterEnumStmt,)
    docs = "https://www.postgresql.org/docs/current/sql-altertype.html#SQL-ALTERTYPE-NOTES"
    rationale = __doc__.split("\n\n", 1)[1].rsplit("Source:", 1)[0]
    examples = (
        Example(
            title="a new status set in the same revision",
            setup=SETUP,
            bad=('op.execute("ALTER TYPE order_status ADD VALUE \'refunded\'")\n'
                 'op.execute("UPDATE orders SET status = \'refunded\' WHERE id = 1")'),
            good=('with op.get_context().autocommit_block():\n'
                  '    op.execute("ALTER TYPE order_status ADD VALUE IF NOT EXISTS \'refunded\'")\n'
                  'op.execute("UPDATE orders SET status = \'refunded\' WHERE id = 1")')),
    )

    def rewrite_sql(self, node, facts) -> SqlRewrite | None:
        """ADD VALUE (not RENAME VALUE) → ADD VALUE IF NOT EXISTS, outside the transaction."""
        if not isinstance(node, ast.AlterEnumStmt) or not node.newVal or node.oldVal:
            return None
        added = copy.deepcopy(node)
        added.skipIfNewValExists = True
        return SqlRewrite(what=f"ALTER TYPE … ADD VALUE {node.newVal!r} → committed at once (autocommit block)",
                          steps=[SqlStep(deparse(added), autocommit=True)])
