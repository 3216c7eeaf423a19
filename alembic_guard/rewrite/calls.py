"""Rewrite one Alembic operation call (``op.<name>(...)``) into its safe form.

Shared by ``alembic-guard fix`` (the call comes from the revision file, through libcst) and the
autogenerate hook (the call is Alembic's own rendering of the operation). Arguments are kept as the
user wrote them (their source text); only what the rewrite needs is read as a Python literal.

The result is Python source for the statements that replace the call, using the operations of
:mod:`alembic_guard.ops` (registered by ``import alembic_guard.ops``) where they exist, or a refusal
with an expand/contract plan.
"""

from __future__ import annotations

import ast as pyast
import inspect
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import libcst as cst
from alembic.operations import Operations

from ..sql.parse import quote_ident
from . import plans
from .sqlrewrite import Unsupported, add_column_parts, rewrite_sql, set_default_sql

NOLIT = object()
OPS_IMPORT = "import alembic_guard.ops  # noqa: F401  (registers op.create_index_concurrently & co.)"
MAX_LINE = 100


@dataclass
class Arg:
    """One argument as written (``source``) and, when it is a Python literal, its ``value``."""

    source: str
    value: Any = NOLIT

    @property
    def literal(self) -> bool:
        return self.value is not NOLIT


@dataclass
class Call:
    """An ``op.<name>(...)`` call with its arguments bound to the operation's parameter names."""

    name: str
    args: dict[str, Arg] = field(default_factory=dict)
    kwargs: dict[str, Arg] = field(default_factory=dict)  # **kw (dialect options)
    source: str = ""

    def get(self, name: str, default: Any = None) -> Any:
        arg = self.args.get(name) or self.kwargs.get(name)
        if arg is None:
            return default
        return arg.value if arg.literal else default

    def src(self, name: str) -> str | None:
        arg = self.args.get(name) or self.kwargs.get(name)
        return arg.source if arg else None


@dataclass
class Facts:
    """What is known about the database the call runs against.

    ``preexisting(table)`` — the table (qualified name) existed before the revision;
    ``relkind(table)`` — ``pg_class.relkind`` or None; ``statements`` — the SQL the call runs (from
    the trace, or compiled by Alembic for autogenerate); ``rewritten`` / ``scanned`` — tables the
    trace saw rewritten / sequentially scanned by those statements (None: not traced);
    ``lock_timeout_ms`` — lock_timeout in force (0 none); ``volatile(sql_expr)`` — whether a
    default expression is volatile (None: unknown).
    """

    preexisting: Callable[[str], bool] = lambda t: True
    relkind: Callable[[str], str | None] = lambda t: None
    statements: list[str] = field(default_factory=list)
    rewritten: set[str] | None = None
    scanned: set[str] | None = None
    lock_timeout_ms: int = 0
    server_version_num: int = 0
    volatile: Callable[[str], bool | None] = lambda expr: None
    matview_has_unique_index: Callable[[str], bool] | None = None
    has_default_partition: Callable[[str], bool] | None = None
    access_exclusive: bool = True  # the statements take ACCESS EXCLUSIVE on a pre-existing table


@dataclass
class Outcome:
    """The safe form of one call (``code``, Python statements) or a refusal (``refused`` + ``plan``)."""

    kind: str
    what: str
    code: str | None = None
    refused: str | None = None
    plan: list[plans.PlanStep] = field(default_factory=list)

    @property
    def uses_ops(self) -> bool:
        return bool(self.code) and any(f"op.{n}(" in self.code for n in _OPS_NAMES)


_OPS_NAMES = ("run_with_lock_timeout", "create_index_concurrently", "drop_index_concurrently",
              "add_check_constraint_safely", "add_foreign_key_safely", "validate_constraint", "set_not_null_safely",
              "add_unique_constraint_using_index", "add_primary_key_using_index", "backfill")


def calls_volatile(expr: str, any_volatile: Callable[[list[str]], bool]) -> bool | None:
    """Whether the SQL expression ``expr`` calls a volatile function, for ``Facts.volatile``: None
    when it does not parse, False when it calls no function, else ``any_volatile(names)`` (the names
    of the functions it calls, looked up in ``pg_proc`` by the caller)."""
    from pglast.visitors import Visitor

    from ..sql.parse import parse_one

    node = parse_one(f"SELECT {expr}")
    if node is None:
        return None
    names: list[str] = []

    class V(Visitor):
        def visit_FuncCall(self, ancestors, n):  # noqa: N802
            names.append(n.funcname[-1].sval)

    V()(node)
    if not names:
        return False
    return any_volatile(names)


# -- reading calls ---------------------------------------------------------------------------------

def _literal(source: str) -> Any:
    try:
        return pyast.literal_eval(source)
    except (ValueError, SyntaxError, TypeError, MemoryError, RecursionError):
        return NOLIT


def call_from_cst(call: cst.Call, module: cst.Module | None = None) -> Call | None:
    """Bind a libcst ``op.<name>(...)`` call to the parameters of ``Operations.<name>``; None when
    it is not an ``op.<name>`` call of a known operation or uses ``*args``/``**kwargs``."""
    func = call.func
    if not (isinstance(func, cst.Attribute) and isinstance(func.value, cst.Name) and func.value.value == "op"):
        return None
    name = func.attr.value
    method = getattr(Operations, name, None)
    if method is None or not callable(method):
        return None
    code = (module or cst.Module(body=[])).code_for_node
    try:
        params = list(inspect.signature(method).parameters.values())[1:]
    except (TypeError, ValueError):
        return None
    positional = [p.name for p in params if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)]
    named = {p.name for p in params if p.kind != p.VAR_KEYWORD}
    out = Call(name=name, source=code(call))
    pos = 0
    for arg in call.args:
        if arg.star:
            return None
        src = code(arg.value)
        value = Arg(src, _literal(src))
        if arg.keyword is None:
            if pos >= len(positional):
                return None
            out.args[positional[pos]] = value
            pos += 1
        elif arg.keyword.value in named:
            out.args[arg.keyword.value] = value
        else:
            out.kwargs[arg.keyword.value] = value
    return out


def call_from_source(source: str) -> Call | None:
    """Like call_from_cst, for the source text of one call expression."""
    try:
        node = cst.parse_expression(source)
    except cst.ParserSyntaxError:
        return None
    return call_from_cst(node) if isinstance(node, cst.Call) else None


# -- writing code ----------------------------------------------------------------------------------

def op_call(name: str, *args: str | None, **kwargs: str | None) -> str:
    """``op.<name>(args…, key=value…)`` from source fragments (None values are left out), wrapped
    one argument per line when longer than MAX_LINE."""
    parts = [a for a in args if a is not None] + [f"{k}={v}" for k, v in kwargs.items() if v is not None]
    one = f"op.{name}({', '.join(parts)})"
    if len(one) <= MAX_LINE and "\n" not in one:
        return one
    if len(parts) == 1:
        return f"op.{name}({parts[0]})"
    return f"op.{name}(\n" + "".join(f"    {p},\n" for p in parts) + ")"


def _qualified(table: str | None, schema: str | None) -> str:
    return f"{schema}.{table}" if schema and schema != "public" else str(table)


def pystr(value: str) -> str:
    """A Python string literal, double-quoted like the rest of a revision file."""
    if value.isprintable() and "\\" not in value:
        return '"' + value.replace('"', '\\"') + '"'
    return repr(value)


def _sql_list(statements: list[str]) -> str:
    if len(statements) == 1:
        return pystr(statements[0])
    return "[\n" + "".join(f"    {pystr(s)},\n" for s in statements) + "]"


def _drop_if_true(value: str | None) -> str | None:
    return None if value in (None, "False", "None") else value


# -- the rewrites ----------------------------------------------------------------------------------

def rewrite_call(call: Call, facts: Facts) -> Outcome | None:
    """The safe form of ``call`` given ``facts``, a refusal, or None when nothing needs changing."""
    handler = _HANDLERS.get(call.name)
    if handler is not None:
        outcome = handler(call, facts)
        if outcome is not None or call.name in _NO_WRAP:
            return outcome
    return _wrap_lock_timeout(call, facts)


_NO_WRAP = {"create_index", "drop_index", "execute"}


def _table_of(call: Call, key: str = "table_name", schema_key: str = "schema") -> tuple[str | None, str | None]:
    return call.get(key), call.get(schema_key)


def _create_index(call: Call, facts: Facts) -> Outcome | None:
    if call.get("postgresql_concurrently"):
        return None
    table, schema = _table_of(call)
    if table is None or not facts.preexisting(_qualified(table, schema)):
        return None
    name = call.src("index_name")
    if name in (None, "None"):
        return Outcome("create-index-concurrently", "CREATE INDEX without a name",
                       refused="the index has no name; name it so that a rerun can find an INVALID leftover")
    mapped = {"postgresql_where": "where", "postgresql_using": "using", "postgresql_include": "include",
              "postgresql_nulls_not_distinct": "nulls_not_distinct"}
    unknown = [k for k in call.kwargs if k not in mapped]
    if unknown:
        return Outcome("create-index-concurrently", f"CREATE INDEX {call.get('index_name')}",
                       refused=f"options {', '.join(unknown)} have no equivalent in op.create_index_concurrently")
    extra = {mapped[k]: v.source for k, v in call.kwargs.items()}
    code = op_call("create_index_concurrently", name, call.src("table_name"), call.src("columns"),
                   schema=call.src("schema"), unique=_drop_if_true(call.src("unique")), **extra)
    partitioned = facts.relkind(_qualified(table, schema)) == "p"
    what = (f"CREATE INDEX {_unquote(name)} on {table} → op.create_index_concurrently "
            + ("(ON ONLY the parent, CONCURRENTLY per partition, ATTACH)" if partitioned else
               "(SHARE UPDATE EXCLUSIVE: writes go on; an INVALID leftover is rebuilt)"))
    return Outcome("create-index-concurrently", what, code=code)


def _drop_index(call: Call, facts: Facts) -> Outcome | None:
    if call.get("postgresql_concurrently"):
        return None
    table, schema = _table_of(call)
    if table is not None and not facts.preexisting(_qualified(table, schema)):
        return None
    if facts.relkind(_qualified(table, schema)) == "p" if table else False:
        return Outcome("drop-index-concurrently", f"DROP INDEX {call.get('index_name')}",
                       refused="an index of a partitioned table cannot be dropped concurrently")
    code = op_call("drop_index_concurrently", call.src("index_name"), table_name=call.src("table_name"),
                   schema=call.src("schema"))
    return Outcome("drop-index-concurrently",
                   f"DROP INDEX {_unquote(call.src('index_name'))} → op.drop_index_concurrently "
                   f"(no ACCESS EXCLUSIVE on {table or 'the table'})", code=code)


def _create_foreign_key(call: Call, facts: Facts) -> Outcome | None:
    table, schema = call.get("source_table"), call.get("source_schema")
    if table is None or not facts.preexisting(_qualified(table, schema)):
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
                   f"ADD FOREIGN KEY {_unquote(name)} on {table} → NOT VALID (instant), then VALIDATE in its own "
                   "transaction (SHARE UPDATE EXCLUSIVE)", code=code)


def _unquote(src: str | None) -> str:
    """The string a literal source stands for; other expressions (``op.f("ix")``) as written."""
    value = _literal(src) if src else None
    if isinstance(value, str):
        return value
    if src and src.startswith("op.f("):
        return _unquote(src[len("op.f("):-1])
    return src or "?"


def _create_check(call: Call, facts: Facts) -> Outcome | None:
    table, schema = _table_of(call)
    if table is None or not facts.preexisting(_qualified(table, schema)) or call.get("postgresql_not_valid"):
        return None
    name = call.src("constraint_name")
    if name in (None, "None"):
        return Outcome("add-check-not-valid", "ADD CHECK without a name",
                       refused="the CHECK constraint has no name; name it so it can be validated separately")
    code = op_call("add_check_constraint_safely", name, call.src("table_name"), call.src("condition"),
                   schema=call.src("schema"))
    return Outcome("add-check-not-valid", f"ADD CHECK {_unquote(name)} on {table} → NOT VALID (instant), then "
                   "VALIDATE in its own transaction (SHARE UPDATE EXCLUSIVE)", code=code)


def _create_unique(call: Call, facts: Facts, primary: bool = False) -> Outcome | None:
    table, schema = _table_of(call)
    if table is None or not facts.preexisting(_qualified(table, schema)):
        return None
    kind = "add-primary-key-using-index" if primary else "add-unique-using-index"
    if facts.relkind(_qualified(table, schema)) == "p":
        return Outcome(kind, f"{'PRIMARY KEY' if primary else 'UNIQUE'} on partitioned {table}",
                       refused="no concurrent build on a partitioned table: each partition needs its own "
                               "unique index first")
    cols = call.get("columns")
    name = call.src("constraint_name")
    if name in (None, "None"):
        if not isinstance(cols, (list, tuple)):
            return Outcome(kind, "unnamed constraint", refused="name the constraint")
        name = pystr(f"{table}_pkey" if primary else f"{table}_{'_'.join(cols)}_key")
    unknown = [k for k in call.kwargs if k not in ("deferrable", "initially")]
    if unknown:
        return Outcome(kind, f"constraint {_unquote(name)}", refused=f"options {', '.join(unknown)} not supported")
    extra = {k: v.source for k, v in call.kwargs.items()}
    opname = "add_primary_key_using_index" if primary else "add_unique_constraint_using_index"
    code = op_call(opname, name, call.src("table_name"), call.src("columns"), schema=call.src("schema"), **extra)
    return Outcome(kind, f"{'PRIMARY KEY' if primary else 'UNIQUE'} {_unquote(name)} on {table} → unique index "
                   "built CONCURRENTLY, then ADD CONSTRAINT … USING INDEX (instant)", code=code)


def _alter_column(call: Call, facts: Facts) -> Outcome | None:
    table, schema = _table_of(call)
    column = call.get("column_name")
    if table is None or not facts.preexisting(_qualified(table, schema)):
        return None
    qualified = _qualified(table, schema)
    if call.src("new_column_name") not in (None, "None"):
        return Outcome("rename-column", f"RENAME {table}.{column} → {call.get('new_column_name')}",
                       refused="renaming a column breaks every running instance that still uses the old name",
                       plan=plans.rename_column(table, schema, column, call.get("new_column_name"),
                                                call.src("existing_type")))
    type_src = call.src("type_")
    if type_src not in (None, "None"):
        rewrites = facts.rewritten is not None and qualified in facts.rewritten
        if rewrites:
            new_sql = _type_sql_from(facts.statements)
            return Outcome("rewriting-type-change", f"ALTER {table}.{column} TYPE {type_src}",
                           refused=f"the type change rewrites {table} and all its indexes under ACCESS EXCLUSIVE",
                           plan=plans.change_type(table, schema, column, type_src, new_sql))
    if call.get("nullable") is False:
        others = {k: v for k, v in call.args.items()
                  if k not in ("table_name", "column_name", "schema", "nullable") and not k.startswith("existing_")}
        safe = op_call("set_not_null_safely", call.src("table_name"), call.src("column_name"),
                       schema=call.src("schema"))
        if others:
            rest = [v.source for k, v in call.args.items() if k in ("table_name", "column_name")]
            kw = {k: v.source for k, v in call.args.items() if k not in ("table_name", "column_name", "nullable")}
            kw.update({k: v.source for k, v in call.kwargs.items()})
            code = op_call("alter_column", *rest, **kw) + "\n" + safe
        else:
            code = safe
        return Outcome("set-not-null-via-check",
                       f"SET NOT NULL on {table}.{column} → op.set_not_null_safely (validated constraint first, "
                       "so SET NOT NULL does not scan under ACCESS EXCLUSIVE)", code=code)
    return None


def _type_sql_from(statements: list[str]) -> str | None:
    from pglast import ast

    from ..sql.parse import alter_commands, parse_one, type_name

    for sql in statements:
        for cmd in alter_commands(parse_one(sql)):
            if isinstance(cmd.def_, ast.ColumnDef) and cmd.def_.typeName is not None:
                return type_name(cmd.def_.typeName)
    return None


def _add_column(call: Call, facts: Facts) -> Outcome | None:
    table, schema = _table_of(call)
    if table is None or not facts.preexisting(_qualified(table, schema)):
        return None
    qualified = _qualified(table, schema)
    parts = next((p for p in map(add_column_parts, facts.statements) if p), None)
    col = _column_call(call.src("column"))
    if parts is None or col is None:
        return None
    add_sql, default_sql, not_null, colname = parts
    volatile = None
    if default_sql is not None:
        volatile = facts.volatile(default_sql)
        if facts.rewritten is not None:
            volatile = qualified in facts.rewritten
    if not_null and default_sql is None:
        return Outcome("add-not-null-column", f"ADD COLUMN {table}.{colname} NOT NULL without a default",
                       refused="a NOT NULL column without a default fails on a non-empty table and breaks "
                               "inserts of the running code; it needs a backfill value",
                       plan=plans.add_not_null_column(table, schema, colname, None))
    if not volatile:
        return None  # catalog-only: wrapped with lock_timeout below if needed
    steps = [add_sql, set_default_sql(facts.statements[0], colname, default_sql)]
    table_args = call.src("table_name") + (f", schema={call.src('schema')}" if call.src("schema") else "")
    code = (f"# {colname}: nullable first (no rewrite), default for new rows, backfill, then NOT NULL\n"
            + op_call("run_with_lock_timeout", _sql_list(steps)) + "\n"
            + f"op.backfill({table_args}, {{{pystr(colname)}: {pystr(default_sql)}}}, "
              f"where={pystr(quote_ident(colname) + ' IS NULL')}, skip_unchanged=False)")
    if not_null:
        code += "\n" + op_call("set_not_null_safely", call.src("table_name"), pystr(colname),
                               schema=call.src("schema"))
    return Outcome("add-column-volatile-default",
                   f"ADD COLUMN {table}.{colname} DEFAULT {default_sql} (volatile: rewrites {table}) → nullable "
                   "column + default for new rows + batched backfill" + (" + NOT NULL via a validated constraint"
                                                                          if not_null else ""), code=code)


def _column_call(source: str | None) -> cst.Call | None:
    if not source:
        return None
    try:
        node = cst.parse_expression(source)
    except cst.ParserSyntaxError:
        return None
    return node if isinstance(node, cst.Call) else None


def _execute(call: Call, facts: Facts) -> Outcome | None:
    sql = call.get("sqltext")
    if not isinstance(sql, str):
        return None
    try:
        rw = rewrite_sql(sql, server_version_num=facts.server_version_num,
                         matview_has_unique_index=facts.matview_has_unique_index,
                         has_default_partition=facts.has_default_partition)
    except Unsupported as exc:
        return Outcome("raw-sql", f"op.execute({sql[:60]!r})", refused=str(exc))
    if rw is None:
        return None
    lines: list[str] = []
    block: list[str] = []

    def flush() -> None:
        if block:
            lines.append("with op.get_context().autocommit_block():\n" + "\n".join("    " + b for b in block))
            block.clear()

    for step in rw.steps:
        if step.validate:
            flush()
            name, table, schema = step.validate
            lines.append(op_call("validate_constraint", pystr(name), pystr(table),
                                 schema=pystr(schema) if schema else None))
        elif step.autocommit:
            block.append(f"op.execute({pystr(step.sql)})")
        else:
            flush()
            lines.append(f"op.execute({pystr(step.sql)})")
    flush()
    return Outcome("raw-sql", rw.what, code="\n".join(lines))


def _refuse_drop_column(call: Call, facts: Facts) -> Outcome | None:
    table, schema = _table_of(call)
    column = call.get("column_name")
    if table is None or not facts.preexisting(_qualified(table, schema)):
        return None
    return Outcome("drop-column", f"DROP COLUMN {table}.{column}",
                   refused="dropping a column breaks running code that still uses it; drop it after a deploy "
                           "that stopped using it", plan=plans.drop_column(table, schema, column))


def _refuse_drop_table(call: Call, facts: Facts) -> Outcome | None:
    table, schema = _table_of(call)
    if table is None or not facts.preexisting(_qualified(table, schema)):
        return None
    return Outcome("drop-table", f"DROP TABLE {table}",
                   refused="dropping a table takes ACCESS EXCLUSIVE on it and on every table it references, and "
                           "breaks code that still uses it", plan=plans.drop_table(table, schema))


def _refuse_rename_table(call: Call, facts: Facts) -> Outcome | None:
    old, new, schema = call.get("old_table_name"), call.get("new_table_name"), call.get("schema")
    if old is None:
        return None
    return Outcome("rename-table", f"RENAME TABLE {old} → {new}",
                   refused="renaming a table breaks every running instance that still uses the old name",
                   plan=plans.rename_table(old, new, schema))


def _wrap_lock_timeout(call: Call, facts: Facts) -> Outcome | None:
    """Any other ACCESS EXCLUSIVE step on a pre-existing table without lock_timeout: run its SQL
    through op.run_with_lock_timeout (own short transaction, lock_timeout, retries)."""
    if facts.lock_timeout_ms or not facts.access_exclusive or not facts.statements:
        return None
    from ..sql.parse import parse_all

    if any(parse_all(s) is None for s in facts.statements):
        return None  # bind parameters or several statements: keep it
    return Outcome("lock-timeout-retry",
                   f"op.{call.name} (ACCESS EXCLUSIVE, no lock_timeout) → op.run_with_lock_timeout: "
                   "lock_timeout, own short transaction, retried with backoff",
                   code=f"# was: {call.source.splitlines()[0]}{' …' if len(call.source.splitlines()) > 1 else ''}\n"
                        + op_call("run_with_lock_timeout", _sql_list(facts.statements)))


_HANDLERS: dict[str, Callable[[Call, Facts], Outcome | None]] = {
    "create_index": _create_index,
    "drop_index": _drop_index,
    "create_foreign_key": _create_foreign_key,
    "create_check_constraint": _create_check,
    "create_unique_constraint": _create_unique,
    "create_primary_key": lambda c, f: _create_unique(c, f, primary=True),
    "alter_column": _alter_column,
    "add_column": _add_column,
    "execute": _execute,
    "drop_column": _refuse_drop_column,
    "drop_table": _refuse_drop_table,
    "rename_table": _refuse_rename_table,
}
