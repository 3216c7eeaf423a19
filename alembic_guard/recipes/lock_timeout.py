"""A write-blocking lock on an existing table without lock_timeout → ask for it with a timeout, and
retry with backoff.

Even an instant DDL statement must first get its lock. While it waits behind one long-running
query, every later query that conflicts with it queues behind it: a 3 ms ADD COLUMN waiting for a
5 s report holds up plain SELECTs for 5 s. ``lock_timeout`` (1-2 s) makes the statement give up
instead of stalling traffic; the migration then retries with exponential backoff and jitter.
``op.run_with_lock_timeout`` (alembic_guard.ops) does both for its statements, in a short
transaction of their own; by hand, ``SET LOCAL lock_timeout`` as the first statement of
``upgrade()`` covers the whole migration transaction, and the whole revision is retried.
Source: PostgreSQL docs, "Client Connection Defaults" (lock_timeout) and "Explicit Locking".
"""

from __future__ import annotations

from ..rewrite.opcall import Call
from ..rewrite.outcome import Outcome
from ..rewrite.steps._common import op_call, sql_list
from .base import Example, Hint, Recipe

IN_TRANSACTION = "op.execute(\"SET LOCAL lock_timeout = '2s'\")  # first statement of upgrade()"
IN_AUTOCOMMIT = "op.execute(\"SET lock_timeout = '2s'\")  # autocommit: per session"
RETRY = "# retry the migration with backoff on SQLSTATE 55P03 (lock_not_available)"


def advice(in_transaction: bool) -> str:
    """The fix for every unprotected lock of one revision (the same text for all of them, so they
    are reported as one finding): the lock_timeout setting where it applies, and the retry."""
    return "\n".join([IN_TRANSACTION if in_transaction else IN_AUTOCOMMIT, "# … this statement …", RETRY])


class LockTimeout(Recipe):
    id = "lock-timeout"
    title = "Take a write-blocking lock with lock_timeout and retries"
    rules = ("lock-without-timeout",)
    docs = "https://www.postgresql.org/docs/current/runtime-config-client.html#GUC-LOCK-TIMEOUT"
    rationale = __doc__.split("\n\n", 1)[1].rsplit("Source:", 1)[0]
    examples = (
        Example(
            title="a statement that takes SHARE on a busy table",
            setup=('op.execute("CREATE TABLE orders (id bigint PRIMARY KEY, status text)")\n'
                   'op.execute("CREATE INDEX ix_orders_status ON orders (status)")'),
            bad='op.execute("REINDEX INDEX ix_orders_status")',
            good=("with op.get_context().autocommit_block():\n"
                  "    op.execute(\"SET lock_timeout = '2s'\")\n"
                  '    op.execute("REINDEX INDEX CONCURRENTLY ix_orders_status")\n'
                  "# retried with backoff on SQLSTATE 55P03 (lock_not_available)")),
    )

    def hint(self, node, facts) -> Hint | None:
        """The advice for a statement in the migration transaction (the rule picks the autocommit
        form itself: the node does not say where it ran)."""
        return Hint(code=advice(True))

    def rewrite_op(self, call: Call, facts) -> Outcome | None:
        """The last fallback of ``rewrite_call``: any other ACCESS EXCLUSIVE step on a pre-existing
        table without lock_timeout runs its SQL through ``op.run_with_lock_timeout`` (own short
        transaction, lock_timeout, retries)."""
        if facts.lock_timeout_ms or not facts.access_exclusive or not facts.statements:
            return None
        from ..sql.parse import parse_all

        if any(parse_all(s) is None for s in facts.statements):
            return None  # bind parameters or several statements: keep it
        first, *more = call.source.splitlines() or [""]
        return Outcome("lock-timeout-retry",
                       f"op.{call.name} (ACCESS EXCLUSIVE, no lock_timeout) → op.run_with_lock_timeout: "
                       "lock_timeout, own short transaction, retried with backoff",
                       code=f"# was: {first}{' …' if more else ''}\n"
                            + op_call("run_with_lock_timeout", sql_list(facts.statements)))
