"""``op.execute("UPDATE t SET col = expr [WHERE …]")`` on an existing table → ``op.backfill(...)``:
keyset batches on the primary key, one short transaction each, outside the migration transaction.
Only a plain UPDATE qualifies (one table, no FROM/RETURNING/WITH, plain column targets)."""

from __future__ import annotations

from pglast import ast

from ..facts import Facts
from ..outcome import Outcome
from ..sqlrewrite import deparse, parse_all
from ._common import op_call, pystr, qualified


def rewrite(sql: str, facts: Facts) -> Outcome | None:
    nodes = parse_all(sql)
    if not nodes or len(nodes) != 1 or not isinstance(nodes[0], ast.UpdateStmt):
        return None
    node = nodes[0]
    if node.fromClause or node.returningClause or node.withClause or node.relation is None:
        return None
    targets = list(node.targetList or ())
    if not targets or any(not isinstance(t, ast.ResTarget) or not t.name or t.indirection for t in targets):
        return None
    table = node.relation.relname
    schema = node.relation.schemaname if node.relation.schemaname not in (None, "public") else None
    if not facts.preexisting(qualified(table, schema)):
        return None
    values = {t.name: deparse(t.val) for t in targets}
    where = deparse(node.whereClause) if node.whereClause is not None else None
    # Idempotent reruns skip rows that already hold the value; a volatile value never "holds" it.
    volatile = any(facts.volatile(v) for v in values.values())
    mapping = "{" + ", ".join(f"{pystr(k)}: {pystr(v)}" for k, v in values.items()) + "}"
    code = op_call("backfill", pystr(table), mapping, schema=pystr(schema) if schema else None,
                   where=pystr(where) if where else None, skip_unchanged="False" if volatile else None)
    return Outcome("batched-backfill", f"UPDATE {qualified(table, schema)} in the migration transaction → "
                   "op.backfill (keyset batches on the primary key, one short transaction each)", code=code)
