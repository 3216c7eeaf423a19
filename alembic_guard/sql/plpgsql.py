"""The SQL statements a DO block's (or a called function's) body runs, as the rules can read them.

``DO $$ BEGIN IF NOT EXISTS (…) THEN ALTER TABLE t RENAME COLUMN a TO b; END IF; END $$`` is a
common way to write an idempotent migration; to the parser it is one opaque DoStmt. libpg_query's
PL/pgSQL parser (``pglast.parse_plpgsql``) gives its statements: each embedded SQL statement
(``PLpgSQL_stmt_execsql``), the query of a ``FOR … IN SELECT`` loop (rows the loop body acts on),
of a PERFORM and of a RETURN QUERY, and an ``EXECUTE`` of a constant string. An IF's condition is
left out: one boolean, and the statements of its branches are read anyway. Dynamic SQL built at
run time (``EXECUTE format(…)``) stays opaque: the trace judges it.
"""

from __future__ import annotations

from typing import Any

import pglast
from pglast import ast
from pglast.visitors import Visitor

from .parse import parse_all

# PL/pgSQL statements whose expression is a whole SQL statement, and the key that holds it
_STATEMENT_KEYS = {"PLpgSQL_stmt_execsql": "sqlstmt", "PLpgSQL_stmt_fors": "query",
                   "PLpgSQL_stmt_perform": "expr", "PLpgSQL_stmt_return_query": "query"}


def do_body(node: ast.DoStmt) -> tuple[str, str] | None:
    """``(language, code)`` of a DO statement, or None when it has no code."""
    language, code = "plpgsql", None
    for arg in node.args or ():
        if isinstance(arg, ast.DefElem) and isinstance(arg.arg, ast.String):
            if arg.defname == "as":
                code = arg.arg.sval
            elif arg.defname == "language":
                language = arg.arg.sval.lower()
    return (language, code) if code is not None else None


def embedded_statements(node: Any) -> list[Any]:
    """The pglast nodes of the SQL statements a PL/pgSQL DO block runs, in order (module docstring);
    [] for anything else, a body in another language, or a body the PL/pgSQL parser rejects."""
    if not isinstance(node, ast.DoStmt):
        return []
    body = do_body(node)
    return body_statements(*body) if body is not None else []


def body_statements(language: str, code: str) -> list[Any]:
    """The statements of a DO block's or a function's body: PL/pgSQL as above (``code`` is the body,
    or the function's whole definition as ``pg_get_functiondef`` writes it: its arguments are then
    variables too), SQL (``LANGUAGE sql``) statement by statement; [] for another language or a body
    that does not parse."""
    if language == "sql":
        return list(parse_all(code) or ())
    if language != "plpgsql":
        return []
    tree = _parse_plpgsql(code)
    if tree is None:
        return []
    variables = _variables(tree)
    out: list[Any] = []
    for sql in _queries(tree):
        for stmt in parse_all(sql) or ():
            if variables:
                _AsParameters(variables)(stmt)
            out.append(stmt)
    return out


# what parse_plpgsql raises on a body it cannot read (RecursionError: its JSON of a very deep body)
_UNPARSABLE = (pglast.parser.ParseError, RecursionError, ValueError)


def _parse_plpgsql(code: str) -> Any:
    """libpg_query's PL/pgSQL tree of a whole CREATE FUNCTION, or of a bare body (wrapped in a
    function returning void, as a DO block's is), or None."""
    try:
        return pglast.parse_plpgsql(code)
    except _UNPARSABLE:
        if parse_all(code) is not None:  # a whole statement (a CREATE FUNCTION) that is not PL/pgSQL
            return None
    tag = "ag"
    while f"${tag}$" in code:
        tag += "_"
    try:
        return pglast.parse_plpgsql(f"CREATE FUNCTION ag_do() RETURNS void LANGUAGE plpgsql AS ${tag}${code}${tag}$")
    except _UNPARSABLE:
        return None


def _variables(tree: Any) -> set[str]:
    """Names of the variables that hold one value for the whole block: declared with a value
    (``v_id int := 1``) and never assigned again (no ``:=``, ``SELECT … INTO``, ``FETCH … INTO``).
    Not a loop's variable (``FOR i IN 1..n``, a FOR loop's record): it takes a value per iteration, so
    ``WHERE id = i`` in the loop is a walk over the table, not one row."""
    datums: list[Any] = []
    assigned: set[int] = set()

    def walk(value: Any) -> None:
        if isinstance(value, list):
            for item in value:
                walk(item)
        elif isinstance(value, dict):
            if isinstance(value.get("varno"), int):
                assigned.add(value["varno"])
            for item in value.values():
                walk(item)

    for fn in tree if isinstance(tree, list) else [tree]:
        body = fn.get("PLpgSQL_function", {}) if isinstance(fn, dict) else {}
        datums = body.get("datums") or []
        walk(body.get("action"))
    names: set[str] = set()
    for dno, datum in enumerate(datums):
        var = datum.get("PLpgSQL_var") if isinstance(datum, dict) else None
        if isinstance(var, dict) and var.get("refname") and "default_val" in var and dno not in assigned:
            names.add(var["refname"])
    return names


class _AsParameters(Visitor):
    """A variable of one value (``_variables``) in an embedded statement is a value PL/pgSQL binds, as
    a parameter ($n) is: ``WHERE id = v_id`` pins rows as ``WHERE id = $1`` does (rules/_dml.py)."""

    def __init__(self, names: set[str]):
        super().__init__()
        self.names = names

    def visit_ColumnRef(self, ancestors, node):
        fields = node.fields or ()
        if len(fields) == 1 and isinstance(fields[0], ast.String) and fields[0].sval in self.names:
            return ast.ParamRef(number=1)
        return None


def _queries(tree: Any) -> list[str]:
    """The SQL texts in a ``parse_plpgsql`` tree, depth first."""
    found: list[str] = []

    def expr_query(value: Any) -> str | None:
        if isinstance(value, dict) and isinstance(value.get("PLpgSQL_expr"), dict):
            return value["PLpgSQL_expr"].get("query")
        return None

    def walk(value: Any) -> None:
        if isinstance(value, list):
            for item in value:
                walk(item)
            return
        if not isinstance(value, dict):
            return
        for kind, body in value.items():
            if not isinstance(body, dict):
                walk(body)
                continue
            key = _STATEMENT_KEYS.get(kind)
            query = expr_query(body.get(key)) if key else None
            if query:
                found.append(query)
            if kind == "PLpgSQL_stmt_dynexecute":
                constant = _string_constant(expr_query(body.get("query")))
                if constant:
                    found.append(constant)
            walk(body)

    walk(tree)
    return found


def _string_constant(expr: str | None) -> str | None:
    """The value of ``expr`` when it is one string literal (``'LOCK TABLE t'``), else None."""
    if not expr:
        return None
    nodes = parse_all("SELECT " + expr)
    if not nodes or len(nodes) != 1 or not isinstance(nodes[0], ast.SelectStmt):
        return None
    targets = nodes[0].targetList or ()
    if len(targets) != 1 or nodes[0].fromClause:
        return None
    value = targets[0].val
    if isinstance(value, ast.A_Const) and isinstance(value.val, ast.String):
        return value.val.sval
    return None
