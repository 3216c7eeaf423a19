"""A full-table UPDATE or DELETE of an existing table → keyset batches on the real primary key,
one short transaction each, outside the migration transaction.

An UPDATE or DELETE locks every row it changes until its transaction commits and writes them in one
burst of WAL; inside the migration transaction it also keeps every lock an earlier statement took
(ACCESS EXCLUSIVE from an ADD COLUMN, say) for the whole run. The safe form walks the table in
keyset order on its primary key (or a unique NOT NULL key), a few thousand keys per statement, each
statement committed on its own: a plain ``UPDATE t SET c = expr`` becomes ``op.backfill`` (which
skips rows already holding the value, so a rerun after a failure only does what is left); an
``UPDATE … FROM`` / ``WITH`` / alias, and any DELETE, keeps its statement as written, restricted to
one key batch per round. A table without such a key cannot be walked: the plan builds a unique index
CONCURRENTLY first (on one of its real NOT NULL columns). A SET that reads what it writes (``SET n =
n + 1``) is not idempotent: a batch rerun would apply it twice, so the plan adds a marker column the
same statement sets. A targeted statement (``WHERE id = 5``) only needs a short transaction of its own.
Source: PostgreSQL docs, "Explicit Locking" (row-level locks), "UPDATE" and "DELETE".
"""

from __future__ import annotations

import copy

from pglast import ast

from ..rewrite.opcall import Call
from ..rewrite.outcome import Outcome
from ..rewrite.sqlrewrite import deparse, parse_all
from ..rewrite.steps._common import pystr
from ..rules._dml import classify
from ..sql.parse import range_name
from . import _batches as b
from .base import Example, Hint, Recipe, Refusal


class Backfill(Recipe):
    id = "backfill"
    title = "Backfill or delete rows of an existing table in short batches"
    rules = ("backfill-in-migration-transaction",)
    ops = ("execute",)
    docs = "https://www.postgresql.org/docs/current/explicit-locking.html#LOCKING-ROWS"
    rationale = __doc__.split("\n\n", 1)[1].rsplit("Source:", 1)[0]
    examples = (
        Example(
            title="a backfill: op.backfill on the primary key",
            setup='op.execute("CREATE TABLE orders (id bigint PRIMARY KEY, status text)")',
            bad='op.execute("UPDATE orders SET status = \'new\' WHERE status IS NULL")',
            good=(b.OPS_IMPORT + "\n"
                  'op.backfill("orders", {"status": "\'new\'"}, where="status IS NULL")')),
        Example(
            title="UPDATE … FROM: the statement as written, one key batch per round",
            setup=('op.execute("CREATE TABLE customers (id bigint PRIMARY KEY, region text NOT NULL)")\n'
                   'op.execute("CREATE TABLE orders (id bigint PRIMARY KEY, '
                   'customer_id bigint NOT NULL REFERENCES customers (id), country text)")'),
            bad=('op.execute("UPDATE orders AS o SET country = c.region FROM customers AS c '
                 'WHERE o.customer_id = c.id AND o.country IS DISTINCT FROM c.region")'),
            good=("with op.get_context().autocommit_block():\n"
                  "    last = None\n"
                  "    while True:\n"
                  "        last = op.get_bind().execute(sa.text(\n"
                  '            "WITH batch AS MATERIALIZED (SELECT id FROM orders WHERE :first OR id > :k0 "\n'
                  '            "ORDER BY id LIMIT 5000), done AS (UPDATE orders AS o SET country = c.region "\n'
                  '            "FROM customers AS c WHERE o.id IN (SELECT id FROM batch) AND (o.customer_id = c.id "\n'
                  '            "AND o.country IS DISTINCT FROM c.region)) SELECT id FROM batch ORDER BY id DESC "\n'
                  '            "LIMIT 1"),\n'
                  '            {"first": last is None, "k0": last[0] if last else None}).first()\n'
                  "        if last is None:\n"
                  "            break")),
        Example(
            title="a DELETE: batches on the primary key until none is left",
            setup=('op.execute("CREATE TABLE sessions (id bigint PRIMARY KEY, user_id bigint, '
                   'expires_at timestamptz NOT NULL)")'),
            bad='op.execute("DELETE FROM sessions WHERE expires_at < now() - interval \'30 days\'")',
            good=("with op.get_context().autocommit_block():\n"
                  "    last = None\n"
                  "    while True:\n"
                  "        last = op.get_bind().execute(sa.text(\n"
                  '            "WITH batch AS MATERIALIZED (SELECT id FROM sessions WHERE :first OR id > :k0 "\n'
                  '            "ORDER BY id LIMIT 5000), done AS (DELETE FROM sessions WHERE sessions.id IN "\n'
                  '            "(SELECT id FROM batch) AND expires_at < now() - interval \'30 days\') "\n'
                  '            "SELECT id FROM batch ORDER BY id DESC LIMIT 1"),\n'
                  '            {"first": last is None, "k0": last[0] if last else None}).first()\n'
                  "        if last is None:\n"
                  "            break")),
        Example(
            title="no primary key: make one first (a plan)",
            fixed="plan",
            setup=('op.execute("CREATE TABLE legacy_events (event_uuid uuid NOT NULL, payload text, '
                   'processed boolean)")'),
            bad='op.execute("UPDATE legacy_events SET processed = false WHERE processed IS NULL")',
            good=(b.OPS_IMPORT + "\n"
                  'op.create_index_concurrently("legacy_events_event_uuid_key", "legacy_events", ["event_uuid"],\n'
                  "                             unique=True)\n"
                  'op.backfill("legacy_events", {"processed": "false"}, where="processed IS NULL",\n'
                  '            key_columns=["event_uuid"])')),
        Example(
            title="a SET that reads what it writes: a marker column keeps reruns from applying it twice (a plan)",
            fixed="plan",
            setup='op.execute("CREATE TABLE products (id bigint PRIMARY KEY, price numeric(10, 2) NOT NULL)")',
            bad='op.execute("UPDATE products SET price = price * 1.1")',
            good=(b.OPS_IMPORT + "\n"
                  'op.run_with_lock_timeout("ALTER TABLE products ADD COLUMN IF NOT EXISTS price_backfilled boolean")\n'
                  'op.backfill("products", {"price": "price * 1.1", "price_backfilled": "true"},\n'
                  '            where="price_backfilled IS NOT TRUE", skip_unchanged=False)\n'
                  "# and in a later revision: ALTER TABLE products DROP COLUMN price_backfilled")),
    )

    def safe_form(self, node, facts) -> Outcome:
        """The batched form of an unbounded UPDATE/DELETE ``node`` (changed), as an Outcome with
        code; raises Refusal (with a plan) when the table has no usable key or the SET reads what
        it writes."""
        table = range_name(node.relation)
        verb = "UPDATE" if isinstance(node, ast.UpdateStmt) else "DELETE"
        found = b.batch_key(facts, table)
        reads = b.reads_what_it_writes(node)
        if found is None:
            raise Refusal(f"{table} has no primary key and no unique NOT NULL key: a batch cannot name its rows; "
                          "make a key first", plan=b.no_key_plan(node, table, facts))
        key, primary = found
        if reads:
            raise Refusal(f"the SET of this {verb} reads {', '.join(reads)}, which it writes: a batch rerun after "
                          "a failure would apply it twice; mark the rows done in the same statement (a marker "
                          "column), or copy the new values into a staging table first and backfill from it",
                          plan=b.marker_plan(node, table, key, primary, facts, reads))
        how = f"keyset batches on {b.key_words(key, primary)}, one short transaction each"
        if b.plain_update(node):
            assignments = {t.name: deparse(t.val) for t in node.targetList}
            volatile = any(facts.volatile(v) for v in assignments.values())
            where = deparse(node.whereClause) if node.whereClause is not None else None
            return Outcome("batched-backfill", f"UPDATE {table} in the migration transaction → op.backfill ({how})",
                           code=b.backfill_call(table, assignments, where=where, key=key, primary=primary,
                                                volatile=volatile))
        kind = "batched-update" if verb == "UPDATE" else "batched-delete"
        return Outcome(kind, f"{verb} of {table} → the statement as written, {how}, outside the migration "
                             "transaction", code=b.keyset_loop(node, table, key, primary))

    def unbounded(self, node, facts) -> bool:
        return not classify(node, b.unique_keys(facts, range_name(node.relation))).bounded

    def hint(self, node, facts) -> Hint | None:
        if not isinstance(node, (ast.UpdateStmt, ast.DeleteStmt)) or node.relation is None:
            return None
        node = b.as_written(copy.deepcopy(node))
        if not self.unbounded(node, facts):
            bound = classify(node, b.unique_keys(facts, range_name(node.relation)))
            return Hint(code=(f"# {bound.why}: a short transaction of its own, after the schema change commits\n"
                              "with op.get_context().autocommit_block():\n"
                              f"    op.execute({pystr(deparse(node))})"))
        try:
            outcome = self.safe_form(node, facts)
        except Refusal as exc:
            return Hint(refused=exc.reason, plan=exc.plan)
        code = outcome.code or ""
        if outcome.kind == "batched-backfill":
            key, primary = b.batch_key(facts, range_name(node.relation))
            code = (f"{b.OPS_IMPORT}\n# keyset batches on {b.key_words(key, primary)}, one short transaction each, "
                    f"outside the migration transaction\n{code}")
        return Hint(code=code)

    def rewrite_op(self, call: Call, facts) -> Outcome | None:
        """``op.execute("UPDATE …" / "DELETE …")`` of a full table that existed before the revision."""
        sql = call.get("sqltext")
        nodes = parse_all(sql) if isinstance(sql, str) else None
        if not nodes or len(nodes) != 1 or not isinstance(nodes[0], (ast.UpdateStmt, ast.DeleteStmt)):
            return None
        node = nodes[0]
        table = range_name(node.relation)
        if not facts.preexisting(table) or not self.unbounded(node, facts):
            return None
        try:
            return self.safe_form(node, facts)
        except Refusal as exc:
            verb = "UPDATE" if isinstance(node, ast.UpdateStmt) else "DELETE"
            return Outcome("batched-backfill" if verb == "UPDATE" else "batched-delete", f"{verb} of {table}",
                           refused=exc.reason, plan=exc.plan)


def batched_backfill(table: str, column: str, value: str, *, where: str | None = None) -> str:
    """``op.backfill`` of one column on the primary key (the hint of other recipes' backfill step):
    ``where`` defaults to the rows still NULL, so a rerun does only what is left."""
    return b.OPS_IMPORT + "\n" + b.backfill_call(table, {column: value}, where=where or f"{b.q(column)} IS NULL",
                                                 key=(), primary=True, volatile=False)
