"""``op.drop_index_concurrently``: DROP INDEX CONCURRENTLY IF EXISTS outside the migration's transaction."""

from __future__ import annotations

from typing import Any

from ..errors import GuardError
from . import _catalog as catalog
from ._base import GuardOp, register
from ._runner import Runner
from ._sql import qualified
from ._log import log


def drop_index_concurrently(runner: Runner, index_name: str, *, table_name: str | None = None,
                            schema: str | None = None, if_exists: bool = True) -> None:
    with runner.outside_transaction():
        if runner.offline:
            name = qualified(index_name, schema)
            runner.comment("A partitioned index cannot be dropped CONCURRENTLY; use DROP INDEX with lock_timeout.")
            runner.autocommit(f"drop index {name}",
                              [f"DROP INDEX CONCURRENTLY {'IF EXISTS ' if if_exists else ''}{name}"])
            return
        resolved_schema = schema
        if resolved_schema is None:
            if table_name is not None:
                resolved_schema = catalog.table(runner, table_name, None).schema
            else:
                rel = catalog.find_relation(runner, index_name, None)
                resolved_schema = rel.schema if rel else None
        state = catalog.index(runner, index_name, resolved_schema) if resolved_schema else None
        name = qualified(index_name, resolved_schema or schema)
        if state is None:
            if not if_exists:
                raise GuardError(f"index {name} does not exist.")
            log.info("index %s does not exist; nothing to drop", name)
            return
        if state.constraint:
            raise GuardError(f"index {state.relation.sql} backs constraint {state.constraint!r}; "
                             "drop the constraint instead (ALTER TABLE … DROP CONSTRAINT).")
        if state.relation.relkind == "I":
            # DROP INDEX CONCURRENTLY is not supported for partitioned indexes; a plain DROP takes
            # ACCESS EXCLUSIVE on the parent and its partitions, but only for an instant.
            log.warning("%s is a partitioned index: dropping it with DROP INDEX (ACCESS EXCLUSIVE, instant) "
                        "under lock_timeout", state.relation.sql)
            runner.transaction(f"drop partitioned index {state.relation.sql}",
                               [f"DROP INDEX IF EXISTS {state.relation.sql}"])
            return
        runner.autocommit(f"drop index {state.relation.sql} concurrently",
                          [f"DROP INDEX CONCURRENTLY IF EXISTS {state.relation.sql}"])


@register("drop_index_concurrently", drop_index_concurrently)
class DropIndexConcurrentlyOp(GuardOp):
    @classmethod
    def drop_index_concurrently(cls, operations: Any, index_name: str, *, table_name: str | None = None,
                                schema: str | None = None, if_exists: bool = True,
                                lock_timeout_ms: int | None = None, statement_timeout_ms: int | None = None,
                                attempts: int | None = None, **settings: Any) -> None:
        """Drop an index without blocking reads or writes (``DROP INDEX CONCURRENTLY IF EXISTS``).

        Runs outside the migration's transaction; takes SHARE UPDATE EXCLUSIVE on the table and waits
        for transactions using the index (``concurrent_lock_timeout_ms``, default 0 = wait).
        ``table_name`` (optional) only helps find the schema. Idempotent (``if_exists=True``).
        A partitioned index cannot be dropped concurrently; it is dropped with a plain
        ``DROP INDEX`` (ACCESS EXCLUSIVE on the parent and partitions, instant) under
        ``lock_timeout_ms`` with retries.
        Raises GuardError when the index backs a constraint, or (``if_exists=False``) is missing.
        See https://www.postgresql.org/docs/current/sql-dropindex.html.
        """
        return operations.invoke(cls(index_name, table_name=table_name, schema=schema,
                                     if_exists=None if if_exists else False, lock_timeout_ms=lock_timeout_ms,
                                     statement_timeout_ms=statement_timeout_ms, attempts=attempts, **settings))
