"""The pieces of the backfill recipe: which key a batch walks, whether a SET is idempotent, the
keyset batch loop of a raw UPDATE/DELETE, ``op.backfill`` calls and the plans when it must refuse.

A full-table UPDATE or DELETE is made safe by walking the table in keyset order on a unique, NOT
NULL key (the primary key when there is one), a few thousand keys per statement, each statement its
own short transaction outside the migration's (Alembic's ``autocommit_block``). Every statement is
changed as a pglast tree and deparsed, so its SET list, FROM/USING, WITH and WHERE survive intact.
Sources: PostgreSQL docs, "UPDATE" and "DELETE" (FROM/USING, WITH), "Row Constructor Comparison"
(``(a, b) > (x, y)`` for a composite key), "Explicit Locking" (row locks held until COMMIT).
"""

from __future__ import annotations

import copy
from itertools import groupby
from typing import Any

from pglast import ast
from pglast.enums import BoolExprType
from pglast.visitors import Visitor

from ..rewrite.plans import PlanStep
from ..rewrite.sqlrewrite import deparse, parse_all
from ..rewrite.steps._common import op_call, pystr
from ..sql.parse import quote_ident, range_name

#: keys per batch statement (FACTS.md: 1,000-10,000 rows per batch in the field)
BATCH = 5000
OPS_IMPORT = "import alembic_guard.ops  # noqa: F401  (registers op.backfill & co.)"
NO_KEY_COLUMN = "<unique NOT NULL column>"


def q(name: str) -> str:
    """A (possibly schema-qualified) name as SQL, quoted where PostgreSQL needs it."""
    return ".".join(quote_ident(p) for p in name.split("."))


def table_args(table: str) -> list[str]:
    """``["'orders'"]`` or ``["'orders'", "schema='sales'"]`` for op calls."""
    schema, _, name = table.rpartition(".")
    return [pystr(name)] + ([f"schema={pystr(schema)}"] if schema else [])


# -- the SQL as the revision wrote it -------------------------------------------------------------

def _strings(node: Any) -> list[ast.String]:
    found: list[ast.String] = []

    class V(Visitor):
        def visit_String(self, ancestors, n):  # noqa: N802
            found.append(n)

    V()(node)
    return found


def as_written(node: Any) -> Any:
    """``node`` with the ``%`` escaping of a pyformat driver undone (in place): SQLAlchemy doubles
    every ``%`` of ``op.execute("…")`` before the driver (and so the trace) sees it, and the safe
    forms go through ``sa.text`` / ``op.backfill``, which double them again. Only when every run of
    ``%`` in the statement's strings, operators and names has an even length (an unescaped
    statement has a lone ``%`` somewhere, or none at all)."""
    strings = [s for s in _strings(node) if s.sval and "%" in s.sval]
    if strings and all(len(list(run)) % 2 == 0 for s in strings for ch, run in groupby(s.sval) if ch == "%"):
        for s in strings:
            s.sval = s.sval.replace("%%", "%")
    return node


# -- keys ------------------------------------------------------------------------------------------

def unique_keys(facts, table: str) -> list[tuple[str, ...]]:
    """The table's unique column tuples, primary key first (``trace/keys.unique_keys`` from the
    catalog facts): the primary key and every unique index on plain columns without WHERE."""
    t = facts.table(table)
    if t is None:
        return []
    keys = [tuple(t.primary_key)] if t.primary_key else []
    for definition in t.indexes.values():
        nodes = parse_all(definition)
        node = nodes[0] if nodes else None
        if not isinstance(node, ast.IndexStmt) or not node.unique or node.whereClause is not None:
            continue
        cols = tuple(getattr(p, "name", None) for p in node.indexParams or ())
        if cols and None not in cols and cols not in keys:
            keys.append(cols)
    return keys


def batch_key(facts, table: str) -> tuple[tuple[str, ...], bool] | None:
    """The key a batch walk can use, and whether it is the primary key: the primary key, else a
    unique key whose columns are all NOT NULL (NULLs are neither unique nor ordered as a key)."""
    t = facts.table(table)
    if t is None:
        return None
    if t.primary_key:
        return tuple(t.primary_key), True
    for key in unique_keys(facts, table):
        if set(key) <= t.not_null:
            return key, False
    return None


def key_words(key: tuple[str, ...], primary: bool = True) -> str:
    what = "the primary key" if primary else "the unique key"
    return f"{what} ({', '.join(key)})"


# -- idempotency -----------------------------------------------------------------------------------

def _column_refs(node: Any) -> list[ast.ColumnRef]:
    found: list[ast.ColumnRef] = []

    class V(Visitor):
        def visit_ColumnRef(self, ancestors, n):  # noqa: N802
            found.append(n)

    V()(node)
    return found


def written_columns(node: ast.UpdateStmt) -> list[str]:
    """The target columns of an UPDATE's SET list, in order (``(a, b) = (…)`` gives a and b)."""
    return [t.name for t in node.targetList or () if isinstance(t, ast.ResTarget) and t.name]


def reads_what_it_writes(node: Any) -> list[str]:
    """The columns an UPDATE writes that its SET expressions also read (``SET n = n + 1``): a
    batch rerun after a failure applies such a change twice. Read from the tree: a ColumnRef in a
    SET value naming a written column, unqualified or qualified by the target table (its name or
    alias) or by another alias of the same table in FROM. Empty for a DELETE (deleting twice is
    deleting once)."""
    if not isinstance(node, ast.UpdateStmt):
        return []
    written = set(written_columns(node))
    rel = node.relation
    same_table = {rel.alias.aliasname if rel.alias is not None else rel.relname}
    if rel.schemaname and rel.alias is None:
        same_table.add(f"{rel.schemaname}.{rel.relname}")
    for frm in node.fromClause or ():
        for rv in _range_vars(frm):
            if rv.relname == rel.relname and (rv.schemaname or None) == (rel.schemaname or None):
                same_table.add(rv.alias.aliasname if rv.alias is not None else rv.relname)
    found: list[str] = []
    for target in node.targetList or ():
        if not isinstance(target, ast.ResTarget):
            continue
        for ref in _column_refs(target.val):
            fields = [f.sval for f in ref.fields or () if isinstance(f, ast.String)]
            if not fields or fields[-1] not in written:
                continue
            qualifier = ".".join(fields[:-1])
            if (not qualifier or qualifier in same_table or fields[-2] in same_table) and fields[-1] not in found:
                found.append(fields[-1])
    return found


def _range_vars(node: Any) -> list[ast.RangeVar]:
    found: list[ast.RangeVar] = []

    class V(Visitor):
        def visit_RangeVar(self, ancestors, n):  # noqa: N802
            found.append(n)

    V()(node)
    return found


# -- the safe forms ----------------------------------------------------------------------------------

def plain_update(node: Any) -> bool:
    """What ``op.backfill`` can say: an UPDATE of one table (with its inheritance children), no
    alias, FROM or WITH, plain ``column = expression`` assignments (no ``DEFAULT``, no subscript,
    no ``(a, b) = …``)."""
    if not isinstance(node, ast.UpdateStmt) or node.fromClause or node.withClause:
        return False
    if node.relation.alias is not None or not node.relation.inh:
        return False
    targets = list(node.targetList or ())
    return bool(targets) and all(
        isinstance(t, ast.ResTarget) and t.name and not t.indirection
        and not isinstance(t.val, (ast.MultiAssignRef, ast.SetToDefault)) for t in targets)


def backfill_call(table: str, assignments: dict[str, str], *, where: str | None, key: tuple[str, ...],
                  primary: bool, volatile: bool) -> str:
    """``op.backfill(...)`` (alembic_guard.ops): keyset batches on ``key``, one short transaction
    each; ``skip_unchanged`` (its default) makes a rerun skip rows already holding the value, which
    a volatile value never does (then the WHERE alone keeps reruns from redoing rows)."""
    mapping = "{" + ", ".join(f"{pystr(k)}: {pystr(v)}" for k, v in assignments.items()) + "}"
    return op_call("backfill", *table_args(table)[:1], mapping, *table_args(table)[1:],
                   where=pystr(where) if where else None,
                   key_columns=None if primary else "[" + ", ".join(pystr(k) for k in key) + "]",
                   skip_unchanged="False" if volatile else None)


def wrapped(text: str, width: int = 88) -> list[str]:
    """``text`` cut at spaces into pieces of about ``width`` characters (each piece keeps its
    trailing space), for a long string written as adjacent Python literals."""
    pieces, current = [], ""
    for word in text.split(" "):
        if current and len(current) + len(word) > width:
            pieces.append(current)
            current = ""
        current += word + " "
    pieces.append(current[:-1])
    return pieces


def _key_row(cols: list[str]) -> str:
    return cols[0] if len(cols) == 1 else f"({', '.join(cols)})"


def keyset_loop(node: Any, table: str, key: tuple[str, ...], primary: bool) -> str:
    """A raw UPDATE or DELETE (``node``, changed in place) in keyset batches on ``key``: each
    statement picks the next ``BATCH`` keys after the last one, runs the user's statement restricted
    to them (its WITH, FROM/USING and WHERE kept) and returns the batch's last key; one statement is
    one short transaction, in an autocommit block, until a batch is empty."""
    rel = node.relation
    ref = quote_ident(rel.alias.aliasname) if rel.alias is not None else q(range_name(rel))
    kcols = [quote_ident(k) for k in key]
    pick = parse_all(f"SELECT 1 WHERE {_key_row([f'{ref}.{k}' for k in kcols])} "
                     f"IN (SELECT {', '.join(kcols)} FROM batch)")[0].whereClause
    node.whereClause = pick if node.whereClause is None else \
        ast.BoolExpr(boolop=BoolExprType.AND_EXPR, args=(pick, node.whereClause))
    ctes = [deparse(c) for c in (node.withClause.ctes if node.withClause else ())]
    recursive = "RECURSIVE " if node.withClause is not None and node.withClause.recursive else ""
    node.withClause = None
    node.returningClause = None  # op.execute discards what it returns
    params = [f":k{i}" for i in range(len(key))]
    batch = (f"batch AS MATERIALIZED (SELECT {', '.join(kcols)} FROM {q(table)} "
             f"WHERE :first OR {_key_row(kcols)} > {_key_row(params)} ORDER BY {', '.join(kcols)} LIMIT {BATCH})")
    sql = (f"WITH {recursive}{''.join(c + ', ' for c in ctes)}{batch}, done AS ({deparse(node)}) "
           f"SELECT {', '.join(kcols)} FROM batch ORDER BY {', '.join(k + ' DESC' for k in kcols)} LIMIT 1")
    values = ", ".join(f"{pystr(f'k{i}')}: last[{i}] if last else None" for i in range(len(key)))
    verb = "UPDATE" if isinstance(node, ast.UpdateStmt) else "DELETE"
    return "\n".join([
        f"# {verb} in keyset batches on {key_words(key, primary)} of {table}, {BATCH} keys per statement,",
        "# each statement one short transaction outside the migration's; rerun from the first key after a",
        "# failure (the rows already done are done: the statement writes the same values again).",
        "with op.get_context().autocommit_block():",
        "    last = None",
        "    while True:",
        "        last = op.get_bind().execute(sa.text(",
        *[f"            {pystr(chunk)}" for chunk in wrapped(sql)[:-1]],
        f"            {pystr(wrapped(sql)[-1])}),",
        f"            {{\"first\": last is None, {values}}}).first()",
        "        if last is None:",
        "            break",
    ])


# -- plans ---------------------------------------------------------------------------------------------

def no_key_plan(node: Any, table: str, facts) -> list[PlanStep]:
    """The table has no primary key and no unique NOT NULL key: no batch can name its rows. Make a
    key first (a unique index built CONCURRENTLY on NOT NULL columns, the catalog's candidates), then
    batch on it; for a DELETE of a plain table, ctid batches are an alternative."""
    t = facts.table(table)
    candidates = [c for c in (t.columns if t else {}) if t and c in t.not_null]
    cols = candidates[:1] or [NO_KEY_COLUMN]
    index = "_".join([table.split(".")[-1], *candidates[:1], "key"])[:63]
    which = (f"a NOT NULL column that is unique (candidates: {', '.join(candidates)})" if candidates else
             "a unique NOT NULL column (the table has none: add one, e.g. a bigint filled from a sequence, first)")
    steps = [PlanStep(
        f"make a key: a unique index built CONCURRENTLY on {which}",
        op_call("create_index_concurrently", pystr(index), pystr(table.split(".")[-1]),
                "[" + ", ".join(pystr(c) for c in cols) + "]", unique="True",
                schema=pystr(table.rsplit(".", 1)[0]) if "." in table else None)
        + "\n# then, if it is the table's identity: op.add_primary_key_using_index(...)")]
    work = copy.deepcopy(node)
    if plain_update(work):
        assignments = {t.name: deparse(t.val) for t in work.targetList}
        code = backfill_call(table, assignments, where=deparse(work.whereClause) if work.whereClause else None,
                             key=tuple(cols), primary=False, volatile=False)
    else:
        code = keyset_loop(work, table, tuple(cols), primary=False)
    steps.append(PlanStep(f"then batch the {'UPDATE' if isinstance(node, ast.UpdateStmt) else 'DELETE'} on it, "
                          "outside the migration transaction", code))
    if isinstance(node, ast.DeleteStmt):
        if (facts.relkind(table) or (t.kind if t else "r")) != "p":
            steps.append(PlanStep("or, without a key, delete in ctid batches (a ctid is unique within one table: "
                                  "run it on each inheritance child)", ctid_delete(copy.deepcopy(node), table)))
        else:
            # a ctid names a row within one partition only: one ctid walk per partition
            parts = sorted(n for n, f in facts.tables.items() if f.parent == table)
            steps.append(PlanStep(
                f"or, without a key, delete from each partition of the partitioned table {table} on its own, in "
                "ctid batches (a ctid is unique within one partition only)",
                "\n".join(ctid_delete(copy.deepcopy(node), p) for p in parts) or
                f"# {table} has no partitions in the catalog"))
    return steps


def ctid_delete(node: ast.DeleteStmt, table: str) -> str:
    """A DELETE repeated in batches of ``BATCH`` rows picked by ctid (the row's address; a row
    updated meanwhile moves and is found by a later pass) until it deletes nothing."""
    if range_name(node.relation) != table:  # one partition of the statement's partitioned table
        schema, _, name = table.rpartition(".")
        node.relation.relname, node.relation.schemaname = name, schema or None
    rel = node.relation
    ref = quote_ident(rel.alias.aliasname) if rel.alias is not None else q(range_name(rel))
    picked = parse_all(f"SELECT {ref}.ctid FROM x LIMIT {BATCH}")[0]
    picked.fromClause = [copy.deepcopy(rel)] + list(node.usingClause or ())
    picked.whereClause = node.whereClause
    picked.withClause = node.withClause
    outer = parse_all(f"DELETE FROM {q(table)} WHERE ctid = ANY (ARRAY(SELECT 1))")[0]
    outer.whereClause.rexpr.subselect = picked  # the ARRAY(SELECT …) of the ANY
    outer.relation.inh = rel.inh
    sql = wrapped(deparse(outer))
    return "\n".join([
        "with op.get_context().autocommit_block():",
        "    while op.get_bind().execute(sa.text(",
        *[f"            {pystr(chunk)}" for chunk in sql[:-1]],
        f"            {pystr(sql[-1])})).rowcount:",
        "        pass",
    ])


def marker_plan(node: ast.UpdateStmt, table: str, key: tuple[str, ...], primary: bool, facts,
                reads: list[str]) -> list[PlanStep]:
    """The SET reads what it writes: a batch rerun after a failure would apply it twice. A marker
    column set in the same statement as the change lets a rerun skip the rows already done."""
    t = facts.table(table)
    taken = set(t.columns) if t else set()
    marker = f"{reads[0]}_backfilled"
    while marker in taken:
        marker += "_"
    work = copy.deepcopy(node)
    done = parse_all(f"UPDATE x SET {quote_ident(marker)} = true WHERE {quote_ident(marker)} IS NOT TRUE")[0]
    work.targetList = list(work.targetList) + list(done.targetList)
    work.whereClause = done.whereClause if work.whereClause is None else \
        ast.BoolExpr(boolop=BoolExprType.AND_EXPR, args=(done.whereClause, work.whereClause))
    if plain_update(work):
        assignments = {x.name: deparse(x.val) for x in work.targetList}
        code = backfill_call(table, assignments, where=deparse(work.whereClause), key=key, primary=primary,
                             volatile=True)
    else:
        code = keyset_loop(work, table, key, primary)
    return [
        PlanStep(f"expand: add a marker column {marker} (catalog only, no rewrite)",
                 op_call("run_with_lock_timeout",
                         pystr(f"ALTER TABLE {q(table)} ADD COLUMN IF NOT EXISTS {quote_ident(marker)} boolean"))),
        PlanStep(f"backfill in batches, each batch setting {marker} in the same statement: a rerun skips the "
                 "rows already done", code),
        PlanStep(f"contract: drop {marker}",
                 op_call("run_with_lock_timeout",
                         pystr(f"ALTER TABLE {q(table)} DROP COLUMN IF EXISTS {quote_ident(marker)}"))),
    ]
