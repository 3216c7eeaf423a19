"""Pieces the column and table recipes share: names as SQL and as Alembic arguments, the statement a
call ran, the catalog's indexes and foreign keys of a column or table (parsed with pglast), the
two-way sync trigger of an expand/contract plan, and how a refusal becomes an Outcome."""

from __future__ import annotations

import copy
from typing import Any

from pglast import ast
from pglast.visitors import Visitor

from ..rewrite.outcome import Outcome
from ..rewrite.sqlrewrite import deparse, parse_all, render_steps
from ..sql.parse import quote_ident, range_name
from .base import Refusal


def sql_name(name: str) -> str:
    """A (possibly schema-qualified) name as SQL, quoted where PostgreSQL needs it."""
    return ".".join(quote_ident(p) for p in name.split("."))


def table_args(table: str) -> str:
    """``"orders"`` or ``"orders", schema="sales"``: the table as the arguments of an ``op.*`` call."""
    if "." in table:
        schema, name = table.split(".", 1)
        return f"{name!r}, schema={schema!r}"
    return repr(table)


def base_name(table: str) -> str:
    return table.split(".")[-1]


def in_schema(table: str, name: str) -> str:
    """``name`` in the schema of ``table`` (for indexes, functions, triggers)."""
    return table.rsplit(".", 1)[0] + "." + name if "." in table else name


def ident63(name: str) -> str:
    """An identifier cut to PostgreSQL's 63 bytes (NAMEDATALEN - 1)."""
    return name.encode()[:63].decode(errors="ignore")


def statement_nodes(facts, kind: type, test=lambda n: True) -> Any | None:
    """A fresh pglast node of the first statement the call ran (``facts.statements``) that is a
    ``kind`` and passes ``test``."""
    for sql in facts.statements:
        for node in parse_all(sql) or ():
            if isinstance(node, kind) and test(node):
                return node
    return None


def outcome_of(recipe, node: Any, facts, kind: str, what: str) -> Outcome | None:
    """An op call's Outcome from the recipe's ``rewrite_sql`` of the statement it ran: the same
    code (or refusal and plan) as ``check``'s hint and the rewrite of the raw SQL."""
    if node is None:
        return None
    try:
        rw = recipe.rewrite_sql(node, facts)
    except Refusal as exc:
        return Outcome(kind, what, refused=exc.reason, plan=exc.plan)
    if rw is None:
        return None
    return Outcome(kind, rw.what, code=render_steps(rw.steps))


class _ColumnUse(Visitor):
    """Finds (and with ``rename_to`` renames) references to a column in an expression tree."""

    def __init__(self, column: str, rename_to: str | None = None, prefix: str | None = None):
        self.column, self.rename_to, self.prefix, self.found = column, rename_to, prefix, False

    def visit_ColumnRef(self, ancestors, node):  # noqa: N802
        fields = list(node.fields or ())
        if fields and isinstance(fields[-1], ast.String) and fields[-1].sval == self.column:
            self.found = True
            if self.rename_to is not None or self.prefix is not None:
                name = ast.String(sval=self.rename_to or self.column)
                head = [ast.String(sval=self.prefix)] if self.prefix else fields[:-1]
                return ast.ColumnRef(fields=tuple(head + [name]))
        return None


def expression_on(expr: Any, column: str, *, rename_to: str | None = None, prefix: str | None = None) -> str:
    """``expr`` (a pglast expression) deparsed with ``column`` renamed and/or prefixed (``NEW.``)."""
    expr = copy.deepcopy(expr)
    wrapper = ast.ResTarget(val=expr)
    _ColumnUse(column, rename_to, prefix)(wrapper)
    return deparse(wrapper.val)


def indexes_on(facts, table: str, column: str) -> list[tuple[str, ast.IndexStmt]]:
    """The indexes of ``table`` (catalog, pg_get_indexdef parsed by pglast) that use ``column`` in a
    key, an expression, INCLUDE or the WHERE clause, by name."""
    tf = facts.table(table)
    out = []
    for name, definition in sorted((tf.indexes if tf else {}).items()):
        nodes = parse_all(definition) or ()
        if len(nodes) != 1 or not isinstance(nodes[0], ast.IndexStmt):
            continue
        node = nodes[0]
        use = _ColumnUse(column)
        use(node)
        params = list(node.indexParams or ()) + list(node.indexIncludingParams or ())
        if use.found or any(getattr(p, "name", None) == column for p in params):
            out.append((name, node))
    return out


def index_on_new_column(node: ast.IndexStmt, name: str, column: str, new_column: str) -> str:
    """``CREATE INDEX CONCURRENTLY name …`` of ``node`` (a catalog index) with ``column`` replaced by
    ``new_column`` everywhere (keys, expressions, INCLUDE, WHERE); method, opclass, order kept."""
    node = copy.deepcopy(node)
    for p in list(node.indexParams or ()) + list(node.indexIncludingParams or ()):
        if getattr(p, "name", None) == column:
            p.name = new_column
    _ColumnUse(column, rename_to=new_column)(node)
    node.idxname = name
    node.concurrent = True
    node.if_not_exists = True
    return deparse(node)


def constraint_node(definition: str) -> ast.Constraint | None:
    """A ``pg_get_constraintdef`` text as a pglast Constraint (parsed inside an ADD CONSTRAINT)."""
    nodes = parse_all(f"ALTER TABLE x ADD CONSTRAINT x {definition}") or ()
    if len(nodes) == 1 and isinstance(nodes[0], ast.AlterTableStmt):
        con = nodes[0].cmds[0].def_
        return con if isinstance(con, ast.Constraint) else None
    return None


def foreign_keys(facts, table: str) -> list[tuple[str, str, str]]:
    """``(table holding it, constraint name, referenced table)`` for the foreign keys of ``table``
    and those of other tables that reference it (catalog, parsed with pglast), in that order."""
    from pglast.enums import ConstrType

    own, others = [], []
    for holder, tf in sorted(facts.tables.items()):
        for name, definition in sorted(tf.constraints.items()):
            con = constraint_node(definition)
            if con is None or con.contype != ConstrType.CONSTR_FOREIGN:
                continue
            target = range_name(con.pktable)
            target = target if "." in target or "." not in holder else in_schema(holder, target)
            if holder == table:
                own.append((holder, name, target))
            elif target == table:
                others.append((holder, name, target))
    return own + others


def sync_trigger(table: str, name: str, body: str) -> str:
    """Alembic code creating the plpgsql function ``name`` (``body``: its statements before
    ``RETURN NEW``) and a BEFORE INSERT OR UPDATE row trigger of that name on ``table``; the trigger
    under lock_timeout (CREATE TRIGGER takes SHARE ROW EXCLUSIVE)."""
    fn = sql_name(in_schema(table, name))
    body = "\n".join("    " + ln for ln in body.splitlines())
    return (f'op.execute("""\n'
            f"CREATE OR REPLACE FUNCTION {fn}() RETURNS trigger LANGUAGE plpgsql AS $$\n"
            f"BEGIN\n{body}\n    RETURN NEW;\nEND $$\"\"\")\n"
            f'op.run_with_lock_timeout("CREATE TRIGGER {quote_ident(name)} BEFORE INSERT OR UPDATE ON '
            f'{sql_name(table)} FOR EACH ROW EXECUTE FUNCTION {fn}()")')


def drop_sync_trigger(table: str, name: str) -> list[str]:
    """The statements that remove what ``sync_trigger`` created."""
    return [f"DROP TRIGGER IF EXISTS {quote_ident(name)} ON {sql_name(table)}",
            f"DROP FUNCTION IF EXISTS {sql_name(in_schema(table, name))}()"]


def lock_timeout_call(statements: list[str]) -> str:
    """``op.run_with_lock_timeout(...)``: the statements in one short transaction of their own."""
    from ..rewrite.steps._common import op_call, sql_list

    return op_call("run_with_lock_timeout", sql_list(statements))


def autocommit(statements: list[str]) -> str:
    from ..rewrite.steps._common import pystr

    return "with op.get_context().autocommit_block():\n" + "\n".join(
        f"    op.execute({pystr(s)})" for s in statements)


def per_command_hint(recipe, node, facts):
    """The hint of an ALTER TABLE with several commands: the recipe's hint of each command as a
    statement of its own (those that have one), in order; None when none has."""
    from .base import Hint, Recipe

    if not isinstance(node, ast.AlterTableStmt) or len(node.cmds or ()) < 2:
        return Recipe.hint(recipe, node, facts)
    texts = []
    for cmd in node.cmds:
        single = copy.deepcopy(node)
        single.cmds = (copy.deepcopy(cmd),)
        hint = Recipe.hint(recipe, single, facts)
        if hint is not None:
            texts.append(hint.text())
    return Hint(code="\n".join(texts)) if texts else None
