"""Is an UPDATE/DELETE bounded? Classify its WHERE clause against the table's unique keys.

A statement is *bounded* ("targeted") only when its WHERE pins a bounded set of rows of the target
table, read from the parse tree (pglast), never from the SQL text:

- **key lookup**: equality (``col = 5``, ``col = $1``, ``(a, b) = (1, 2)``) or an IN-list of constants
  or parameters (``col IN (1, 2)``, ``col = ANY('{1,2}')``, ``col = ANY($1)``) on every column of the
  primary key or of one unique key (``unique_keys``: non-partial, non-expression unique indexes). The
  columns may be pinned by different conjuncts of an AND (``a = 1 AND b IN (2, 3)`` for key (a, b));
  anything else ANDed with them does not matter. ``ctid = …`` and ``WHERE CURRENT OF`` pin rows too.
- **batch bound**: a key (or ``ctid``) ``IN (SELECT … LIMIT n)`` / ``= ANY(ARRAY(SELECT … LIMIT n))``
  / ``= (SELECT … LIMIT n)`` with an uncorrelated subquery (or one reading a CTE of the statement that
  has the LIMIT); a range with both ends (``id >= a AND id < b``, ``BETWEEN``) on the single column of
  the first key (the primary key when the table has one) or on ``ctid``.
- **OR**: bounded when every term is.

Everything else is unbounded: no WHERE, ``WHERE true``, a range on a non-unique column or with one
end, a predicate on non-key columns (``status IS NULL``), a join (``UPDATE … FROM`` / ``DELETE …
USING``) or a subquery without a bound, an OR with one unbounded term, NOT, ``<>``.

Conservative by design: a bound the classifier does not recognise (``t.id = p.id AND p.id = 5``
through a join, a correlated subquery) is reported as unbounded.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from pglast import ast
from pglast.enums import A_Expr_Kind, BoolExprType, SubLinkType
from pglast.visitors import Visitor

from ._common import sql_text

RANGE_OPS = {"<": "upper", "<=": "upper", ">": "lower", ">=": "lower"}
FLIP = {"<": ">", "<=": ">=", ">": "<", ">=": "<="}


@dataclass(frozen=True)
class DmlBound:
    """``bounded``: the WHERE pins a bounded set of rows; ``why``: in words (``equality on primary key
    id``, ``it has no WHERE clause``); ``batch``: bounded by a batch idiom (LIMIT, key range), not a
    key lookup."""

    bounded: bool
    why: str
    batch: bool = False


@dataclass
class _Facts:
    """What the conjuncts of one AND group pin."""

    pinned: dict[str, str] = field(default_factory=dict)  # column → "equality" | "IN-list"
    limited: list[tuple[str, ...]] = field(default_factory=list)  # column tuples IN a LIMITed subquery
    unlimited: list[tuple[str, ...]] = field(default_factory=list)  # ... IN a subquery without bound
    lower: set[str] = field(default_factory=set)
    upper: set[str] = field(default_factory=set)
    ranged: list[str] = field(default_factory=list)  # columns with a range end, in order
    bounded_or: DmlBound | None = None
    unbounded_or: str | None = None  # an OR term that pins nothing
    current_of: bool = False


class _Scope:
    """The target table of the statement: its names (for ``t.col`` / ``alias.col``) and CTEs."""

    def __init__(self, node: Any, within: Any = None):
        rel = node.relation
        self.names = {rel.relname}
        if rel.schemaname:
            self.names.add(f"{rel.schemaname}.{rel.relname}")
        if rel.alias is not None:
            self.names = {rel.alias.aliasname}
        # its own CTEs, and those of the statement whose WITH clause it is in (its siblings there)
        ctes = [c for n in (within, node) if n is not None and n.withClause for c in n.withClause.ctes or ()]
        self.ctes = {c.ctename: c.ctequery for c in ctes if isinstance(c, ast.CommonTableExpr)}

    def column(self, ref: Any) -> str | None:
        """The target-table column a ColumnRef names, or None (another table's, ``*``)."""
        if not isinstance(ref, ast.ColumnRef):
            return None
        fields = [f.sval if isinstance(f, ast.String) else None for f in ref.fields or ()]
        if not fields or None in fields:
            return None
        if len(fields) == 1:
            return fields[0]
        qualifier = ".".join(fields[:-1])
        return fields[-1] if qualifier in self.names or fields[-2] in self.names else None

    def columns(self, node: Any) -> tuple[str, ...] | None:
        """``col`` or ``(a, b)`` (a RowExpr of target columns) as a tuple, else None."""
        if isinstance(node, ast.RowExpr):
            cols = tuple(self.column(a) for a in node.args or ())
            return cols if cols and None not in cols else None
        col = self.column(node)
        return (col,) if col else None


def _walk(node: Any, kinds: tuple[type, ...]) -> list[Any]:
    found: list[Any] = []

    class V(Visitor):
        def visit(self, ancestors, n):
            if isinstance(n, kinds):
                found.append(n)

    V()(node)
    return found


def _constant(node: Any) -> bool:
    """No column reference, no subquery: a constant, a parameter, or an expression of them."""
    if node is None:
        return False
    if isinstance(node, (list, tuple)):
        return all(_constant(n) for n in node)
    if isinstance(node, (ast.ColumnRef, ast.SubLink)):
        return False
    return not _walk(node, (ast.ColumnRef, ast.SubLink))


def _op(expr: ast.A_Expr) -> str:
    names = [n.sval for n in expr.name or () if isinstance(n, ast.String)]
    return names[-1] if names else ""


def _limited(select: Any, scope: _Scope) -> bool:
    """A SELECT returning at most n rows: LIMIT n (not LIMIT ALL), or reading only a CTE that has one."""
    if not isinstance(select, ast.SelectStmt):
        return False
    lc = select.limitCount
    if lc is not None and not (isinstance(lc, ast.A_Const) and lc.isnull):
        return True
    frm = select.fromClause or ()
    if len(frm) == 1 and isinstance(frm[0], ast.RangeVar) and not frm[0].schemaname \
            and frm[0].relname in scope.ctes and select.op.name == "SETOP_NONE":
        return _limited(scope.ctes[frm[0].relname], scope)
    return False


def _correlated(select: Any, scope: _Scope) -> bool:
    """The subquery refers to the target table of the outer statement (``… WHERE o.k = t.a``)."""
    defined = set()
    for rv in _walk(select, (ast.RangeVar,)):
        defined.add(rv.alias.aliasname if rv.alias is not None else rv.relname)
    for rs in _walk(select, (ast.RangeSubselect, ast.RangeFunction)):
        if rs.alias is not None:
            defined.add(rs.alias.aliasname)
    for ref in _walk(select, (ast.ColumnRef,)):
        fields = [f.sval for f in ref.fields or () if isinstance(f, ast.String)]
        if len(fields) >= 2 and fields[-2] in scope.names and fields[-2] not in defined:
            return True
    return False


def _subquery(cols: tuple[str, ...], sub: ast.SubLink, facts: _Facts, scope: _Scope) -> None:
    if _limited(sub.subselect, scope) and not _correlated(sub.subselect, scope):
        facts.limited.append(cols)
    else:
        facts.unlimited.append(cols)


def _conjunct(expr: Any, facts: _Facts, scope: _Scope, keys: list[tuple[str, ...]]) -> None:
    """Record what one conjunct of an AND pins."""
    if isinstance(expr, ast.BoolExpr) and expr.boolop == BoolExprType.OR_EXPR:
        terms = [_group(a, scope, keys) for a in expr.args or ()]
        bad = next((a for a, b in zip(expr.args or (), terms, strict=True) if not b.bounded), None)
        if bad is None:
            facts.bounded_or = DmlBound(True, "an OR of bounded terms (" + "; ".join(t.why for t in terms) + ")",
                                        batch=any(t.batch for t in terms))
        elif facts.unbounded_or is None:
            facts.unbounded_or = sql_text(bad)
        return
    if isinstance(expr, ast.CurrentOfExpr):
        facts.current_of = True
        return
    if isinstance(expr, ast.SubLink):
        if expr.subLinkType == SubLinkType.ANY_SUBLINK and (not expr.operName or _op_name(expr) == "="):
            cols = scope.columns(expr.testexpr)
            if cols:
                _subquery(cols, expr, facts, scope)
        return
    if not isinstance(expr, ast.A_Expr):
        return
    op = _op(expr)
    kind = expr.kind
    left, right = expr.lexpr, expr.rexpr
    if kind == A_Expr_Kind.AEXPR_OP and op == "=":
        for a, b in ((left, right), (right, left)):
            cols = scope.columns(a)
            if not cols:
                continue
            if _constant(b):
                for c in cols:
                    facts.pinned.setdefault(c, "equality")
            elif isinstance(b, ast.SubLink) and b.subLinkType == SubLinkType.EXPR_SUBLINK:
                _subquery(cols, b, facts, scope)
            break
    elif kind == A_Expr_Kind.AEXPR_IN and op == "=":
        cols = scope.columns(left)
        if cols and _constant(right):
            for c in cols:
                facts.pinned[c] = "IN-list"
    elif kind == A_Expr_Kind.AEXPR_OP_ANY and op == "=":
        cols = scope.columns(left)
        if cols and _constant(right):
            for c in cols:
                facts.pinned[c] = "IN-list"
        elif cols and isinstance(right, ast.SubLink) and right.subLinkType == SubLinkType.ARRAY_SUBLINK:
            _subquery(cols, right, facts, scope)
    elif kind == A_Expr_Kind.AEXPR_OP and op in RANGE_OPS:
        for a, b, o in ((left, right, op), (right, left, FLIP[op])):
            col = scope.column(a)
            if col and _constant(b):
                (facts.lower if RANGE_OPS[o] == "lower" else facts.upper).add(col)
                facts.ranged.append(col)
                break
    elif kind in (A_Expr_Kind.AEXPR_BETWEEN, A_Expr_Kind.AEXPR_BETWEEN_SYM):
        col = scope.column(left)
        if col and _constant(right):
            facts.lower.add(col)
            facts.upper.add(col)
            facts.ranged.append(col)


def _op_name(sub: ast.SubLink) -> str:
    names = [n.sval for n in sub.operName or () if isinstance(n, ast.String)]
    return names[-1] if names else ""


def _conjuncts(expr: Any) -> list[Any]:
    if isinstance(expr, ast.BoolExpr) and expr.boolop == BoolExprType.AND_EXPR:
        return [c for a in expr.args or () for c in _conjuncts(a)]
    return [expr]


def _key_name(key: tuple[str, ...], index: int) -> str:
    kind = "primary key" if index == 0 else "unique key"
    return f"{kind} {key[0]}" if len(key) == 1 else f"{kind} ({', '.join(key)})"


def _group(expr: Any, scope: _Scope, keys: list[tuple[str, ...]]) -> DmlBound:
    """Classify an AND group (a single expression is a group of one)."""
    facts = _Facts()
    for c in _conjuncts(expr):
        _conjunct(c, facts, scope, keys)
    if facts.current_of:
        return DmlBound(True, "WHERE CURRENT OF a cursor (one row)")
    if "ctid" in facts.pinned:
        return DmlBound(True, f"{facts.pinned['ctid']} on ctid")
    for i, key in enumerate(keys):
        if set(key) <= set(facts.pinned):
            how = "IN-list" if any(facts.pinned[c] == "IN-list" for c in key) else "equality"
            return DmlBound(True, f"{how} on {_key_name(key, i)}")
    for cols in facts.limited:
        if cols == ("ctid",):
            return DmlBound(True, "a batch: ctid in a subquery with LIMIT", batch=True)
        for i, key in enumerate(keys):
            if set(key) <= set(cols):
                return DmlBound(True, f"a batch: {_key_name(key, i)} in a subquery with LIMIT", batch=True)
    both = facts.lower & facts.upper
    if "ctid" in both:
        return DmlBound(True, "a batch: a ctid range with both ends", batch=True)
    if keys and len(keys[0]) == 1 and keys[0][0] in both:
        return DmlBound(True, f"a batch: a range with both ends on {_key_name(keys[0], 0)}", batch=True)
    if facts.bounded_or is not None:
        return facts.bounded_or
    return DmlBound(False, _unbounded_why(facts, keys, expr))


def _unbounded_why(facts: _Facts, keys: list[tuple[str, ...]], expr: Any) -> str:
    key_names = ", ".join(_key_name(k, i) for i, k in enumerate(keys))
    if facts.unbounded_or is not None:
        return f"one term of its OR ({facts.unbounded_or}) is not bounded"
    key_cols = {c for k in keys for c in k} | {"ctid"}
    for cols in facts.unlimited:
        if set(cols) & key_cols:
            return f"it selects {', '.join(cols)} from a subquery without LIMIT (or a correlated one)"
    for col in facts.ranged:
        if col not in key_cols:
            return f"its range on {col} (not a unique column) matches any number of rows"
        if not (col in facts.lower and col in facts.upper):
            return f"its range on {col} has only one end"
        return f"its range on {col} is not a keyset batch on the primary key"
    if isinstance(expr, ast.A_Const):
        return f"its WHERE ({sql_text(expr)}) is constant"
    if not keys:
        return f"its WHERE ({sql_text(expr)}) has no batch bound and the table has no primary key or unique key"
    return f"its WHERE ({sql_text(expr)}) pins no key of the table ({key_names})"


def classify(node: Any, keys: list[tuple[str, ...]] | None, within: Any = None) -> DmlBound:
    """Is this UPDATE/DELETE bounded? ``keys``: the table's unique column tuples, primary key first
    (``RevisionTrace.unique_keys[table]``); ``within``: the statement whose WITH clause ``node`` is
    in (``WITH batch AS (… LIMIT n), d AS (DELETE … IN (SELECT … FROM batch)) …``), else None."""
    keys = [tuple(k) for k in keys or ()]
    where_clause = node.whereClause
    if where_clause is None:
        return DmlBound(False, "it has no WHERE clause")
    scope = _Scope(node, within)
    result = _group(where_clause, scope, keys)
    if result.bounded:
        return result
    if isinstance(node, ast.UpdateStmt) and _tests_only_set_columns(node, scope):
        return DmlBound(False, f"its WHERE ({sql_text(where_clause)}) only tests the columns it sets: a backfill "
                               "of every row still missing the value, as many as the table has")
    joined = node.fromClause if isinstance(node, ast.UpdateStmt) else node.usingClause
    if joined:
        what = "FROM" if isinstance(node, ast.UpdateStmt) else "USING"
        others = ", ".join(sql_text(j) for j in joined)
        return DmlBound(False, f"it joins {others} ({what}) and {result.why}")
    return result


def _tests_only_set_columns(node: ast.UpdateStmt, scope: _Scope) -> bool:
    """``SET x = … WHERE x IS NULL``: the WHERE mentions only columns the UPDATE sets."""
    targets = {t.name for t in node.targetList or () if isinstance(t, ast.ResTarget) and t.name}
    seen = {scope.column(r) or "?" for r in _walk(node.whereClause, (ast.ColumnRef,))}
    return bool(seen) and seen <= targets
