from pglast import ast

from ._common import failed
from ._schema import columns, primary_key, type_key
from .base import PG_DOCS, Rule, register

INT32 = {"int4", "int2", "serial", "serial4", "smallserial", "serial2", "integer", "smallint", "int"}


@register
class Int32PrimaryKey(Rule):
    id = "int32-primary-key"
    title = "A new table with a 32-bit integer primary key"
    severity = "warning"
    category = "design"
    docs = PG_DOCS + "datatype-numeric.html#DATATYPE-INT"
    rationale = (
        "An `integer` (or `serial`) key runs out at 2,147,483,647. Busy tables reach it, and widening the key "
        "later is a table rewrite under ACCESS EXCLUSIVE of the table and of every table whose foreign keys "
        "reference it (see alter-column-type-rewrites). `bigint` costs 4 more bytes per row and index entry "
        "and is the default to choose on a new table (`sa.BigInteger()`, `bigint GENERATED ... AS IDENTITY`)."
    )
    bad_example = ('op.create_table("orders", sa.Column("id", sa.Integer(), primary_key=True),\n'
                   '                sa.Column("total", sa.Numeric()))')
    good_example = ('op.create_table("orders", sa.Column("id", sa.BigInteger(), sa.Identity(), primary_key=True),\n'
                    '                sa.Column("total", sa.Numeric()))')

    def check(self, ctx):
        node = ctx.node
        if failed(ctx) or not isinstance(node, ast.CreateStmt) or node.partbound is not None:
            return
        key = primary_key(node)
        for col in columns(node):
            if col.name in key and type_key(col.type) in INT32:
                yield self.finding(
                    ctx, f"new table {col.table} has a 32-bit primary key {col.name} ({type_key(col.type)}): it "
                         f"runs out at 2^31-1 and widening it later rewrites {col.table} and the tables that "
                         f"reference it; use bigint.",
                    table=col.table, detail=f"{col.table}.{col.name}",
                    fix=f"# sa.Column({col.name!r}, sa.BigInteger(), sa.Identity(), primary_key=True)")
