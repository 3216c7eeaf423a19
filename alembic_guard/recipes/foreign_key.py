"""ADD FOREIGN KEY on an existing table → ADD … NOT VALID, then VALIDATE CONSTRAINT in its own transaction.

ADD FOREIGN KEY takes SHARE ROW EXCLUSIVE on the table and on the referenced table, then scans the
table to check every existing row while holding both: writes to both tables wait. ``NOT VALID``
only records the constraint (new rows are checked at once); ``VALIDATE CONSTRAINT``, after a COMMIT,
scans under SHARE UPDATE EXCLUSIVE on the table and ROW SHARE on the referenced one: no read or write
waits. Index the referencing columns (CONCURRENTLY) too, or every DELETE on the referenced table scans.
Source: PostgreSQL docs, ALTER TABLE, Notes and "VALIDATE CONSTRAINT".
"""

from __future__ import annotations

from pglast.enums import ConstrType

from ..rewrite.opcall import Call
from ..rewrite.outcome import Outcome
from ..rewrite.steps._common import op_call, pystr, qualified, unquote
from ._not_valid import NotValidRecipe
from .base import Example

SETUP = ('op.execute("CREATE TABLE customers (id bigint PRIMARY KEY)")\n'
         'op.execute("CREATE TABLE orders (id bigint PRIMARY KEY, customer_id bigint)")')


class ForeignKey(NotValidRecipe):
    id = "foreign-key"
    title = "Add a foreign key without blocking writes to both tables"
    rules = ("constraint-validated-in-place", "validate-in-same-transaction")
    ops = ("create_foreign_key",)
    contype = ConstrType.CONSTR_FOREIGN
    label = "FOREIGN KEY"
    suffix = "fkey"
    docs = "https://www.postgresql.org/docs/current/sql-altertable.html#SQL-ALTERTABLE-NOTES"
    rationale = __doc__.split("\n\n", 1)[1].rsplit("Source:", 1)[0]
    examples = (
        Example(
            title="op.create_foreign_key",
            setup=SETUP,
            bad='op.create_foreign_key("fk_orders_customer", "orders", "customers", ["customer_id"], ["id"])',
            good=('import alembic_guard.ops  # noqa: F401  (registers op.add_foreign_key_safely & co.)\n'
                  'op.add_foreign_key_safely("fk_orders_customer", "orders", "customers", ["customer_id"], ["id"])')),
        Example(
            title="raw SQL, ON DELETE kept",
            setup=SETUP,
            bad=('op.execute("ALTER TABLE orders ADD CONSTRAINT fk_orders_customer FOREIGN KEY (customer_id) '
                 'REFERENCES customers (id) ON DELETE CASCADE")'),
            good=('op.execute("SET LOCAL lock_timeout = \'2s\'")\n'
                  'op.execute("ALTER TABLE orders ADD CONSTRAINT fk_orders_customer FOREIGN KEY (customer_id) '
                  'REFERENCES customers (id) ON DELETE CASCADE NOT VALID")\n'
                  'with op.get_context().autocommit_block():\n'
                  '    op.execute("ALTER TABLE orders VALIDATE CONSTRAINT fk_orders_customer")')),
    )

    def claims_validate(self, facts, table, name) -> bool:
        t = facts.table(table)
        return bool(t and (t.constraints.get(name) or "").startswith("FOREIGN KEY"))

    def rewrite_op(self, call: Call, facts) -> Outcome | None:
        table, schema = call.get("source_table"), call.get("source_schema")
        if table is None or not facts.preexisting(qualified(table, schema)):
            return None
        if call.get("postgresql_not_valid"):
            return None
        name = call.src("constraint_name")
        if name in (None, "None"):
            cols = call.get("local_cols") or []
            name = pystr(f"{table}_{'_'.join(cols)}_fkey")
        unknown = [k for k in call.kwargs if k != "postgresql_not_valid"]
        if unknown:
            return Outcome("add-foreign-key-not-valid", f"ADD FOREIGN KEY {name}",
                           refused=f"options {', '.join(unknown)} have no equivalent in op.add_foreign_key_safely")
        code = op_call("add_foreign_key_safely", name, call.src("source_table"), call.src("referent_table"),
                       call.src("local_cols"), call.src("remote_cols"), schema=call.src("source_schema"),
                       referent_schema=call.src("referent_schema"), ondelete=call.src("ondelete"),
                       onupdate=call.src("onupdate"), match=call.src("match"), deferrable=call.src("deferrable"),
                       initially=call.src("initially"))
        return Outcome("add-foreign-key-not-valid",
                       f"ADD FOREIGN KEY {unquote(name)} on {table} → NOT VALID (instant), then VALIDATE in its own "
                       "transaction (SHARE UPDATE EXCLUSIVE)", code=code)
