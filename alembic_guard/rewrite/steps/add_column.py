"""``op.add_column`` on an existing table: a volatile default → nullable column + default for new rows
+ batched backfill (+ ``set_not_null_safely``); NOT NULL without a default is refused (with a plan)."""

from __future__ import annotations

import libcst as cst

from ...sql.parse import quote_ident
from .. import plans
from ..facts import Facts
from ..opcall import Call
from ..outcome import Outcome
from ..sqlrewrite import add_column_parts, set_default_sql
from ._common import op_call, pystr, qualified, sql_list, table_of


def rewrite(call: Call, facts: Facts) -> Outcome | None:
    table, schema = table_of(call)
    if table is None or not facts.preexisting(qualified(table, schema)):
        return None
    table_q = qualified(table, schema)
    parts = next((p for p in map(add_column_parts, facts.statements) if p), None)
    col = column_call(call.src("column"))
    if parts is None or col is None:
        return None
    add_sql, default_sql, not_null, colname = parts
    volatile = None
    if default_sql is not None:
        volatile = facts.volatile(default_sql)
        if facts.rewritten is not None:
            volatile = table_q in facts.rewritten
    if not_null and default_sql is None:
        return Outcome("add-not-null-column", f"ADD COLUMN {table}.{colname} NOT NULL without a default",
                       refused="a NOT NULL column without a default fails on a non-empty table and breaks "
                               "inserts of the running code; it needs a backfill value",
                       plan=plans.add_not_null_column(table, schema, colname, None))
    if not volatile:
        return None  # catalog-only: wrapped with lock_timeout (steps.lock_timeout) if needed
    steps = [add_sql, set_default_sql(facts.statements[0], colname, default_sql)]
    table_args = call.src("table_name") + (f", schema={call.src('schema')}" if call.src("schema") else "")
    code = (f"# {colname}: nullable first (no rewrite), default for new rows, backfill, then NOT NULL\n"
            + op_call("run_with_lock_timeout", sql_list(steps)) + "\n"
            + f"op.backfill({table_args}, {{{pystr(colname)}: {pystr(default_sql)}}}, "
              f"where={pystr(quote_ident(colname) + ' IS NULL')}, skip_unchanged=False)")
    if not_null:
        code += "\n" + op_call("set_not_null_safely", call.src("table_name"), pystr(colname),
                               schema=call.src("schema"))
    return Outcome("add-column-volatile-default",
                   f"ADD COLUMN {table}.{colname} DEFAULT {default_sql} (volatile: rewrites {table}) → nullable "
                   "column + default for new rows + batched backfill" + (" + NOT NULL via a validated constraint"
                                                                          if not_null else ""), code=code)


def column_call(source: str | None) -> cst.Call | None:
    """The ``sa.Column(...)`` argument as a libcst call (None when it is something else)."""
    if not source:
        return None
    try:
        node = cst.parse_expression(source)
    except cst.ParserSyntaxError:
        return None
    return node if isinstance(node, cst.Call) else None
