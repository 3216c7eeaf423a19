"""What the tracer sees of one ``cursor.execute``: the SQL with its parameters rendered, split into
statements, and how far the parser can explain it (coverage)."""

from __future__ import annotations

from typing import Any

import pglast
from pglast import ast
from pglast.visitors import Visitor

from ..sql.parse import parse_all

# Drivers that send a string of several statements as one simple query (PostgreSQL runs them in one
# implicit transaction). asyncpg prepares every statement, so a string of several fails there, as it
# will in production: it is not split.
SPLITTABLE_DRIVERS = ("psycopg2", "psycopg", "psycopg2cffi", "pg8000")


def render_parameters(cursor: Any, dbapi_conn: Any, sql: str, parameters: Any, executemany: bool) -> str | None:
    """``sql`` with the values the driver sends bound into it (the first row of an executemany), as the
    driver itself would quote them, or None when there is nothing to bind or the driver cannot say.
    psycopg2: ``cursor.mogrify``; psycopg 3: ``ClientCursor.mogrify``. Positional ``$1`` parameters
    (asyncpg) parse as they are and are left alone."""
    if not parameters:
        return None
    params = parameters[0] if executemany and isinstance(parameters, (list, tuple)) else parameters
    if not params:
        return None
    try:
        mogrify = getattr(cursor, "mogrify", None)
        if mogrify is not None and type(cursor).__module__.startswith("psycopg2"):
            out = mogrify(sql, params)
            return out.decode() if isinstance(out, bytes) else str(out)
        import psycopg

        driver_conn = getattr(dbapi_conn, "driver_connection", dbapi_conn)
        if isinstance(driver_conn, psycopg.Connection):
            return psycopg.ClientCursor(driver_conn).mogrify(sql, params)
        if isinstance(driver_conn, psycopg.AsyncConnection):
            return psycopg.AsyncClientCursor(driver_conn).mogrify(sql, params)
    except Exception:  # noqa: BLE001 - a value the client-side quoting cannot render: judged by trace
        return None
    return None


def split_statements(sql: str) -> list[str]:
    """The statements of ``sql`` (pglast's splitter: comments, quotes and dollar quotes respected),
    or ``[sql]`` when it does not parse."""
    try:
        parts = [p.strip() for p in pglast.split(sql)]
    except pglast.parser.ParseError:
        return [sql]
    return [p for p in parts if p] or [sql]


class _Functions(Visitor):
    def __init__(self):
        super().__init__()
        self.names: set[str] = set()

    def visit_FuncCall(self, ancestors, node):
        if node.funcname:
            self.names.add(node.funcname[-1].sval)


_ROW_STATEMENTS = (ast.SelectStmt, ast.InsertStmt, ast.UpdateStmt, ast.DeleteStmt, ast.MergeStmt,
                   ast.CreateTableAsStmt, ast.CallStmt)


def called_functions(nodes: tuple[Any, ...] | None) -> set[str]:
    """Names of the functions a statement that reads or writes rows calls (pglast FuncCall nodes):
    ``SELECT migrate_data()``, ``INSERT INTO log VALUES (migrate_data())`` do their work inside the
    function, where the parser cannot see. A function in a DEFAULT of a DDL statement does not make
    that statement unreadable: it runs for the rows the DDL names."""
    found = _Functions()
    for node in nodes or ():
        if isinstance(node, _ROW_STATEMENTS):
            found(node)
    return found.names


def coverage_of(nodes: tuple[Any, ...] | None, user_functions: set[str]) -> tuple[str, str]:
    """``("parsed", "")`` or ``("trace-only", reason)``: a statement the rules cannot read from its SQL
    (it did not parse, a DO block, a procedure call, a call of a function of the project's own) is
    judged by what the trace measured alone."""
    if nodes is None:
        return "trace-only", "the SQL did not parse"
    if len(nodes) > 1:
        return "trace-only", "several statements in one string with bound parameters"
    for node in nodes:
        if isinstance(node, ast.DoStmt):
            return "trace-only", "a DO block"
        if isinstance(node, ast.CallStmt):
            return "trace-only", "a procedure call"
        if isinstance(node, ast.ExecuteStmt):  # the prepared body was parsed at PREPARE, not here
            return "trace-only", f"EXECUTE of prepared statement {node.name}"
    if user_functions:
        return "trace-only", "calls " + ", ".join(sorted(user_functions))
    return "parsed", ""


def settings_changed(statements: list[Any]) -> set[str]:
    """Names of settings that these statements (``model.Statement``) SET, RESET or set_config()."""
    names: set[str] = set()

    class _SetConfigCalls(Visitor):
        def visit_FuncCall(self, ancestors, node):
            fname = node.funcname[-1].sval if node.funcname else ""
            args = node.args or ()
            if fname == "set_config" and args and isinstance(args[0], ast.A_Const) and \
                    isinstance(args[0].val, ast.String):
                names.add(args[0].val.sval)

    for st in statements:
        for node in parse_all(st.sql) or ():
            if isinstance(node, ast.VariableSetStmt) and node.name:
                names.add(node.name)
            elif isinstance(node, ast.SelectStmt):
                _SetConfigCalls()(node)
    return names


def string_constants(node: Any) -> list[str]:
    """Every string constant in a pglast tree."""
    found: list[str] = []

    class _Strings(Visitor):
        def visit_String(self, ancestors, n):
            found.append(n.sval)

    _Strings()(node)
    return found
