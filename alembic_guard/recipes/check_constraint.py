"""ADD CHECK on an existing table → ADD … NOT VALID, then VALIDATE CONSTRAINT in its own transaction.

ADD CHECK takes ACCESS EXCLUSIVE and scans the whole table while holding it: reads and writes wait.
``NOT VALID`` only records the constraint (new rows are checked at once); ``VALIDATE CONSTRAINT``,
after a COMMIT, scans under SHARE UPDATE EXCLUSIVE, which blocks no read or write. A CHECK declared
inline with ADD COLUMN scans too, even though the new column is all NULL: it becomes a table
constraint of its own, NOT VALID. A VALIDATE in the transaction that added the constraint gains
nothing (the lock is held until COMMIT): it moves into a transaction of its own.
Source: PostgreSQL docs, ALTER TABLE, Notes and "VALIDATE CONSTRAINT".
"""

from __future__ import annotations

from pglast.enums import ConstrType

from ..rewrite.opcall import Call
from ..rewrite.outcome import Outcome
from ..rewrite.steps._common import op_call, qualified, table_of, unquote
from ._not_valid import NotValidRecipe
from .base import Example

SETUP = 'op.execute("CREATE TABLE products (id bigint PRIMARY KEY, price_cents int)")'


class CheckConstraint(NotValidRecipe):
    id = "check-constraint"
    title = "Add a CHECK constraint without a scan under ACCESS EXCLUSIVE"
    rules = ("constraint-validated-in-place", "validate-in-same-transaction")
    ops = ("create_check_constraint",)
    contype = ConstrType.CONSTR_CHECK
    label = "CHECK"
    suffix = "check"
    docs = "https://www.postgresql.org/docs/current/sql-altertable.html#SQL-ALTERTABLE-NOTES"
    rationale = __doc__.split("\n\n", 1)[1].rsplit("Source:", 1)[0]
    examples = (
        Example(
            title="op.create_check_constraint",
            setup=SETUP,
            bad='op.create_check_constraint("ck_products_price", "products", "price_cents > 0")',
            good=('import alembic_guard.ops  # noqa: F401  (registers op.add_check_constraint_safely & co.)\n'
                  'op.add_check_constraint_safely("ck_products_price", "products", "price_cents > 0")')),
        Example(
            title="a CHECK declared inline with ADD COLUMN (raw SQL)",
            setup=SETUP,
            bad='op.execute("ALTER TABLE products ADD COLUMN weight_g int CHECK (weight_g > 0)")',
            good=('op.execute("SET LOCAL lock_timeout = \'2s\'")\n'
                  'op.execute("ALTER TABLE products ADD COLUMN weight_g int, '
                  'ADD CONSTRAINT products_weight_g_check CHECK (weight_g > 0) NOT VALID")\n'
                  'with op.get_context().autocommit_block():\n'
                  '    op.execute("ALTER TABLE products VALIDATE CONSTRAINT products_weight_g_check")')),
        Example(
            title="VALIDATE in a transaction that still holds a write-blocking lock",
            rule="validate-in-same-transaction",
            setup=SETUP + '\nop.execute("ALTER TABLE products ADD CONSTRAINT ck_products_price CHECK (price_cents > 0) '
                          'NOT VALID")',
            bad=('op.execute("SET LOCAL lock_timeout = \'2s\'")\n'
                 'op.execute("LOCK TABLE products IN SHARE ROW EXCLUSIVE MODE")\n'
                 'op.execute("ALTER TABLE products VALIDATE CONSTRAINT ck_products_price")'),
            good=('with op.get_context().autocommit_block():\n'
                  '    op.execute("ALTER TABLE products VALIDATE CONSTRAINT ck_products_price")')),
    )

    def claims_validate(self, facts, table, name) -> bool:
        # every VALIDATE the catalog does not know as a foreign key's (one added in this revision
        # is not in it yet); the safe form is the same for both kinds
        t = facts.table(table)
        return not (t and (t.constraints.get(name) or "").startswith("FOREIGN KEY"))

    def rewrite_op(self, call: Call, facts) -> Outcome | None:
        table, schema = table_of(call)
        if table is None or not facts.preexisting(qualified(table, schema)) or call.get("postgresql_not_valid"):
            return None
        name = call.src("constraint_name")
        if name in (None, "None"):
            return Outcome("add-check-not-valid", "ADD CHECK without a name",
                           refused="the CHECK constraint has no name; name it so it can be validated separately")
        code = op_call("add_check_constraint_safely", name, call.src("table_name"), call.src("condition"),
                       schema=call.src("schema"))
        return Outcome("add-check-not-valid", f"ADD CHECK {unquote(name)} on {table} → NOT VALID (instant), then "
                       "VALIDATE in its own transaction (SHARE UPDATE EXCLUSIVE)", code=code)
