"""``op.create_index_concurrently``: CREATE INDEX CONCURRENTLY outside the migration's transaction,
idempotent, dropping an INVALID leftover of an earlier failed attempt first; partitioned tables
are indexed partition by partition (``ON ONLY`` parent, CONCURRENTLY per partition, ATTACH)."""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import Any

from ..errors import GuardError
from . import _catalog as catalog
from ._base import GuardOp, register
from ._runner import Runner
from ._sql import SqlText, column_or_expression, derived_name, fragment, ident, ident_list, qualified
from .drop_index_concurrently import DropIndexConcurrentlyOp
from ._log import log


def index_sql(index_name: str, table_sql: str, columns: Sequence[SqlText], *, unique: bool = False,
              concurrently: bool = True, only: bool = False, using: str | None = None,
              include: Sequence[str] | None = None, where: SqlText | None = None,
              nulls_not_distinct: bool = False, if_not_exists: bool = True) -> str:
    """The CREATE INDEX statement (names quoted; ``where`` is the caller's SQL)."""
    if not columns:
        raise ValueError("an index needs at least one column or expression")
    parts = ["CREATE UNIQUE INDEX" if unique else "CREATE INDEX"]
    if concurrently:
        parts.append("CONCURRENTLY")
    if if_not_exists:
        parts.append("IF NOT EXISTS")
    parts.append(ident(index_name))
    parts.append("ON ONLY" if only else "ON")
    parts.append(table_sql)
    if using:
        parts.append(f"USING {ident(using)}")
    parts.append("(" + ", ".join(column_or_expression(c) for c in columns) + ")")
    if include:
        parts.append(f"INCLUDE ({ident_list(list(include))})")
    if nulls_not_distinct:
        parts.append("NULLS NOT DISTINCT")
    if where is not None:
        parts.append(f"WHERE {fragment(where)}")
    return " ".join(parts)


def _drop_invalid(runner: Runner, state: catalog.IndexState) -> None:
    log.warning("index %s is INVALID (left by an earlier failed build); dropping it concurrently",
                state.relation.sql)
    runner.run(f"DROP INDEX CONCURRENTLY IF EXISTS {state.relation.sql}")


def build_concurrently(runner: Runner, index_name: str, table: catalog.Relation, columns: Sequence[SqlText],
                       **options: Any) -> None:
    """CREATE INDEX CONCURRENTLY on a plain table, resuming/repairing (online only)."""
    sql = index_sql(index_name, table.sql, columns, **options)
    step = f"create index {qualified(index_name, table.schema)} concurrently"

    def check_existing() -> bool:
        state = catalog.index(runner, index_name, table.schema)
        if state is None:
            other = catalog.relation_named(runner, index_name, table.schema)
            if other is not None:
                raise GuardError(f"cannot create index {qualified(index_name, table.schema)}: a relation of "
                                 f"kind {other.relkind!r} already has that name.")
            return False
        if state.table_oid != table.oid:
            raise GuardError(f"index {state.relation.sql} already exists on another table.")
        if state.valid:
            log.info("index %s already exists and is valid; nothing to do", state.relation.sql)
            return True
        _drop_invalid(runner, state)
        return False

    def cleanup() -> None:
        state = catalog.index(runner, index_name, table.schema)
        if state is not None and not state.valid and state.table_oid == table.oid:
            _drop_invalid(runner, state)

    workers = runner.settings.max_parallel_maintenance_workers

    def work(conn: Any) -> None:
        if check_existing():
            return
        started = time.monotonic()
        try:
            with runner.session_settings(max_parallel_maintenance_workers=workers):
                runner.run(sql)
        except Exception:
            # An INVALID unique index still enforces uniqueness on new rows: never leave one behind.
            try:
                cleanup()
            except Exception as exc:  # keep the original error
                log.error("could not drop the INVALID index %s: %s", qualified(index_name, table.schema), exc)
            raise
        state = catalog.index(runner, index_name, table.schema)
        if state is None or not state.valid:
            raise GuardError(f"CREATE INDEX CONCURRENTLY left {qualified(index_name, table.schema)} invalid.")
        log.info("%s: built in %.1f s (max_parallel_maintenance_workers %s)", step, time.monotonic() - started,
                 "as on the server" if workers is None else f"= {workers}")

    runner.autocommit(step, work, cleanup=cleanup)


def _object_name(name1: str, name2: str, label: str) -> str:
    """PostgreSQL's makeObjectName(): ``name1_name2_label`` in at most 63 bytes, shortening the
    longer of name1/name2 first (src/backend/commands/indexcmds.c)."""
    avail = 63 - (1 if name2 else 0) - (len(label.encode()) + 1)  # the underscores and the label
    b1, b2 = name1.encode(), name2.encode()
    n1, n2 = len(b1), len(b2)
    while n1 + n2 > avail:
        if n1 > n2:
            n1 -= 1
        else:
            n2 -= 1
    part1 = b1[:n1].decode(errors="ignore")
    part2 = b2[:n2].decode(errors="ignore")
    return f"{part1}_{part2}_{label}" if name2 else f"{part1}_{label}"


def default_child_name(runner: Runner, child: catalog.Relation, columns: Sequence[SqlText]) -> str:
    """The name PostgreSQL gives a partition's index when the parent's index is created in one go
    (ChooseIndexName: ``<partition>_<columns>_idx``, ``expr`` for an expression, a number added to
    ``idx`` when taken), so that the partition-by-partition build ends in the same catalog. A name
    already used by an unattached index on this very partition is reused: a rerun resumes there."""
    labels = [c if isinstance(c, str) else "expr" for c in columns]
    addition = "_".join(labels).encode()[:63].decode(errors="ignore")
    for n in range(0, 1000):
        name = _object_name(child.name, addition, "idx" if n == 0 else f"idx{n}")
        rows = runner.query(
            "SELECT c.relkind::text, i.indrelid, h.inhrelid IS NOT NULL, "
            "       ARRAY(SELECT a.attname::text FROM unnest(i.indkey) WITH ORDINALITY k(attnum, o) "
            "             JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = k.attnum ORDER BY k.o) "
            "FROM pg_class c JOIN pg_namespace ns ON ns.oid = c.relnamespace "
            "LEFT JOIN pg_index i ON i.indexrelid = c.oid LEFT JOIN pg_inherits h ON h.inhrelid = c.oid "
            "WHERE ns.nspname = :schema AND c.relname = :name", schema=child.schema, name=name)
        if not rows:
            return name
        relkind, table_oid, attached, keys = rows[0]
        if relkind in ("i", "I") and table_oid == child.oid and not attached and list(keys) == labels:
            return name  # our own index from an interrupted run: build_* resumes or rebuilds it
    return derived_name(child.name, "idx")


def build_partitioned(runner: Runner, index_name: str, table: catalog.Relation, columns: Sequence[SqlText],
                      **options: Any) -> None:
    """``CREATE INDEX … ON ONLY parent`` → build each partition's index concurrently (recursing into
    sub-partitions) → ``ALTER INDEX parent ATTACH PARTITION child``. Resumes a half-done run."""
    state = catalog.index(runner, index_name, table.schema)
    if state is not None and state.table_oid != table.oid:
        raise GuardError(f"index {state.relation.sql} already exists on another table.")
    if state is not None and state.valid:
        log.info("index %s already exists and is valid; nothing to do", state.relation.sql)
        return
    parent_sql = qualified(index_name, table.schema)
    if state is None:
        only = index_sql(index_name, table.sql, columns, concurrently=False, only=True, **options)
        runner.transaction(f"create index {parent_sql} on only {table.sql}", [only])
        state = catalog.index(runner, index_name, table.schema)
        assert state is not None
    for child in catalog.partitions(runner, table):
        if child.relkind not in ("r", "p"):
            log.warning("partition %s (relkind %r) is skipped; PostgreSQL cannot index it", child.sql, child.relkind)
            continue
        attached = catalog.attached_child_index(runner, state.relation.oid, child.oid)
        if attached is not None and attached.valid:
            continue
        child_index = attached.relation.name if attached else default_child_name(
            runner, child, [*columns, *(options.get("include") or ())])
        if child.relkind == "p":
            build_partitioned(runner, child_index, child, columns, **options)
        else:
            build_concurrently(runner, child_index, child, columns, **options)
        if attached is None:
            runner.transaction(
                f"attach index {qualified(child_index, child.schema)} to {parent_sql}",
                [f"ALTER INDEX {parent_sql} ATTACH PARTITION {qualified(child_index, child.schema)}"])
    final = catalog.index(runner, index_name, table.schema)
    if final is None or not final.valid:
        raise GuardError(f"partitioned index {parent_sql} is still invalid after attaching every partition.")


def create_index_concurrently(runner: Runner, index_name: str, table_name: str, columns: Sequence[SqlText], *,
                              schema: str | None = None, unique: bool = False, using: str | None = None,
                              include: Sequence[str] | None = None, where: SqlText | None = None,
                              nulls_not_distinct: bool = False) -> None:
    if isinstance(columns, str):
        columns = [columns]
    options = dict(unique=unique, using=using, include=include, where=where, nulls_not_distinct=nulls_not_distinct)
    with runner.outside_transaction():
        if runner.offline:
            _offline(runner, index_name, table_name, schema, columns, options)
            return
        table = catalog.table(runner, table_name, schema)
        if table.relkind == "p":
            build_partitioned(runner, index_name, table, columns, **options)
        else:
            build_concurrently(runner, index_name, table, columns, **options)


def _offline(runner: Runner, index_name: str, table_name: str, schema: str | None, columns: Sequence[SqlText],
             options: dict[str, Any]) -> None:
    table_sql = qualified(table_name, schema)
    index_sql_name = qualified(index_name, schema)
    runner.comment(f"create_index_concurrently {index_sql_name} on {table_sql}")
    runner.comment("If an earlier attempt failed, the index exists but is INVALID; check with")
    runner.comment(f"  SELECT indisvalid FROM pg_index WHERE indexrelid = to_regclass('{index_sql_name}');")
    runner.comment(f"and drop it first: DROP INDEX CONCURRENTLY IF EXISTS {index_sql_name};")
    runner.comment("For a partitioned table run instead: CREATE INDEX IF NOT EXISTS … ON ONLY the table, then")
    runner.comment("CREATE INDEX CONCURRENTLY on each partition and ALTER INDEX … ATTACH PARTITION each.")
    workers = runner.settings.max_parallel_maintenance_workers
    build = [index_sql(index_name, table_sql, columns, **options)]
    if workers is not None:  # leave the other cores to the application, as online
        build = [f"SET max_parallel_maintenance_workers = {int(workers)}", *build,
                 "RESET max_parallel_maintenance_workers"]
    runner.autocommit(f"create index {index_sql_name}", build)


@register("create_index_concurrently", create_index_concurrently)
class CreateIndexConcurrentlyOp(GuardOp):
    @classmethod
    def create_index_concurrently(cls, operations: Any, index_name: str, table_name: str,
                                  columns: Sequence[SqlText], *, schema: str | None = None, unique: bool = False,
                                  using: str | None = None, include: Sequence[str] | None = None,
                                  where: SqlText | None = None, nulls_not_distinct: bool = False,
                                  lock_timeout_ms: int | None = None, statement_timeout_ms: int | None = None,
                                  attempts: int | None = None, **settings: Any) -> None:
        """Create an index without blocking writes (``CREATE INDEX CONCURRENTLY IF NOT EXISTS``).

        ``columns``: column names (quoted as identifiers) and/or SQLAlchemy expressions such as
        ``sa.text("lower(email)")`` or ``sa.text('"CreatedAt" DESC')`` (used verbatim). ``where``
        (partial index) is SQL. ``include`` lists column names. ``using`` names the access method.

        Runs outside the migration's transaction. Takes SHARE UPDATE EXCLUSIVE on the table (blocks
        other DDL and VACUUM, not reads or writes) and waits for transactions that predate it.
        Idempotent: a valid index of that name on that table is left alone; an INVALID one (from a
        failed build) is dropped with ``DROP INDEX CONCURRENTLY`` and rebuilt. If the build fails
        (e.g. a duplicate for ``unique=True``), the INVALID index is dropped before the error is
        raised. On a partitioned table: ``CREATE INDEX … ON ONLY`` the parent, CONCURRENTLY on each
        partition (recursively), ``ALTER INDEX … ATTACH PARTITION`` each; a rerun resumes.

        Parallelism: the build runs with ``max_parallel_maintenance_workers`` set in its own session
        (default 0: the build is one process and leaves the other cores to the application; a
        parallel build takes every core of a small server and the application's p99 rose 2.6–4.6×
        on 2 cores), restored after; ``max_parallel_maintenance_workers="server"`` (or None in
        Settings) keeps the server's value. See
        https://www.postgresql.org/docs/current/runtime-config-resource.html
        (max_parallel_maintenance_workers: CREATE INDEX on B-tree only).

        Timeouts: ``concurrent_lock_timeout_ms`` / ``concurrent_statement_timeout_ms`` (default 0 =
        wait) for the build; ``lock_timeout_ms`` for the short ON ONLY / ATTACH steps.
        Raises GuardError (name taken by another relation, table missing), LockRetryExhausted, or
        the database error. See https://www.postgresql.org/docs/current/sql-createindex.html
        ("Building Indexes Concurrently").
        """
        return operations.invoke(cls(index_name, table_name, list(columns) if not isinstance(columns, str)
                                     else [columns], schema=schema, unique=unique or None, using=using,
                                     include=include, where=where, nulls_not_distinct=nulls_not_distinct or None,
                                     lock_timeout_ms=lock_timeout_ms, statement_timeout_ms=statement_timeout_ms,
                                     attempts=attempts, **settings))

    def reverse(self) -> GuardOp:
        return DropIndexConcurrentlyOp(self.args[0], table_name=self.args[1], schema=self.kwargs.get("schema"))
