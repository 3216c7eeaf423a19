"""``op.backfill``: update a table in short keyset batches over its primary key, one transaction per
batch, idempotent and resumable, with a progress bar on a terminal.

With ``set=``, each batch is ONE statement run on its own (autocommit: the statement is the batch's
transaction) under session-level ``lock_timeout`` / ``statement_timeout``::

    WITH batch AS MATERIALIZED (SELECT key FROM t WHERE (key) > (:last) ORDER BY key LIMIT batch_size),
         last AS (SELECT key FROM batch ORDER BY key DESC LIMIT 1),
         updated AS (UPDATE t SET c = expr
                      WHERE (key) > (:last) AND (key) <= (SELECT key FROM last)   -- one key range
                        AND (<where>)                                             -- the caller's predicate
                        AND ROW(c) IS DISTINCT FROM ROW(CAST(expr AS <type of c>))  -- skip_unchanged
                      RETURNING 1)
    SELECT (SELECT count(*) FROM batch), (SELECT count(*) FROM updated), last.key ...

(one round trip per batch; the walk and the UPDATE share the statement's snapshot). With
``callback=``, the batch's upper key is read first and the callback runs in an explicit transaction.

The skip_unchanged predicate makes a batch a no-op for rows that already hold the value, so a rerun
after a crash (or after the process was killed) only writes the rows still missing, and never applies
a row twice in a way that changes the result. For volatile expressions (``gen_random_uuid()``) that
predicate is always true: pass ``where="c IS NULL"`` instead (and ``skip_unchanged=False``).

Pacing (``_backfill_pace.py``): the batch size follows a target batch duration (``batch_target_ms``,
30 ms; a batch over ``batch_max_ms``, 100 ms, shrinks the next one at once), and after each batch
the backfill sleeps so that batches take at most the share ``duty_cycle`` of wall time, a share
that falls towards ``min_duty_cycle`` when batches get slower than they were at the start
(contention). ``pause_ms`` is a floor on that sleep. Every ``vacuum_every`` (10%) of the table's
rows written, the table is vacuumed between two batches (``_backfill_vacuum.py``).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from ..errors import GuardError
from . import _catalog as catalog
from ._backfill_batches import BackfillBatch, BackfillResult, _walk_callback, _walk_statements
from ._backfill_pace import BatchPace
from ._backfill_sql import _offline
from ._backfill_vacuum import BackfillVacuum
from ._base import GuardOp, register
from ._log import log
from ._progress import _Progress
from ._runner import Runner
from ._sql import SqlText, fragment, ident

__all__ = ["BackfillBatch", "BackfillOp", "BackfillResult", "backfill"]


def backfill(runner: Runner, table_name: str, set: Mapping[str, SqlText] | None = None, *,  # noqa: A002
             schema: str | None = None, where: SqlText | None = None,
             callback: Callable[[Any, BackfillBatch], int | None] | None = None,
             key_columns: Sequence[str] | None = None, skip_unchanged: bool = True,
             progress: bool | None = None) -> BackfillResult | None:
    assignments = dict(set or {})
    if bool(assignments) == bool(callback):
        raise ValueError("backfill needs exactly one of set={column: sql} or callback=fn(connection, batch)")
    where_sql = fragment(where) if where is not None else None
    with runner.outside_transaction():
        if runner.offline:
            _offline(runner, table_name, schema, assignments, where_sql, callback, key_columns, skip_unchanged)
            return None
        return _online(runner, table_name, schema, assignments, where_sql, callback, key_columns,
                       skip_unchanged, progress)


def _online(runner: Runner, table_name: str, schema: str | None, assignments: dict[str, SqlText],
            where_sql: str | None, callback: Any, key_columns: Sequence[str] | None, skip_unchanged: bool,
            progress: bool | None) -> BackfillResult:
    table = catalog.table(runner, table_name, schema)
    if key_columns:
        keys = [(c, catalog.column(runner, table, c).type_sql) for c in key_columns]
    else:
        keys = catalog.primary_key(runner, table)
        if not keys:
            raise GuardError(f"table {table.sql} has no primary key: backfill walks a table in primary-key order.",
                             hint="Pass key_columns=[...] naming unique, NOT NULL columns with a btree index.")
    key_names = [ident(k) for k, _ in keys]
    key_types = [t for _, t in keys]

    predicates = []
    if where_sql:
        predicates.append(f"({where_sql})")
    set_sql = ""
    if assignments:
        cols = [(ident(c), fragment(e), catalog.column(runner, table, c).type_sql) for c, e in assignments.items()]
        set_sql = ", ".join(f"{c} = {e}" for c, e, _ in cols)
        if skip_unchanged:
            predicates.append(f"ROW({', '.join(c for c, _, _ in cols)}) IS DISTINCT FROM "
                              f"ROW({', '.join(f'CAST(({e}) AS {t})' for _, e, t in cols)})")
    extra = "".join(f" AND {p}" for p in predicates)

    s = runner.settings
    result = BackfillResult(table=table.sql)
    total = _estimate_rows(runner, table)
    what = ", ".join(assignments) if assignments else getattr(callback, "__qualname__", "callback")
    started = time.monotonic()
    pace = BatchPace.from_settings(s)
    vacuum = BackfillVacuum.for_table(runner, table.sql, total)
    bar = _Progress(f"backfill {table.sql}", total, progress)
    sizing = (f"batches sized to {s.batch_target_ms} ms (at most {s.batch_max_ms} ms), starting at {pace.size:,} rows"
              if s.batch_target_ms else f"batches of {pace.size:,} rows")
    vacuuming = f"VACUUM every {vacuum.threshold:,} rows written" if vacuum.enabled else "no VACUUM between batches"
    log.info("backfill %s (%s): about %s rows; %s; duty cycle %.0f%% (down to %.0f%% under contention); %s",
             table.sql, what, f"{total:,}", sizing, pace.duty_max * 100, pace.duty_min * 100, vacuuming)
    with bar:
        if callback is None:
            _walk_statements(runner, table.sql, key_names, key_types, set_sql, extra, what, result, bar,
                             started, pace, vacuum)
        else:
            _walk_callback(runner, table.sql, key_names, key_types, callback, what, result, bar, started, pace,
                           vacuum)
    result.seconds = time.monotonic() - started
    log.info("backfill %s (%s): done, %s rows updated, %s scanned in %d batches, %.1f s (%s rows/s), "
             "longest batch %.0f ms, paused %.1f s, %d VACUUM (%.1f s)", table.sql, what,
             f"{result.rows_updated:,}", f"{result.rows_scanned:,}", result.batches, result.seconds,
             f"{result.rows_per_second:,.0f}", result.longest_batch_ms, result.slept_seconds, result.vacuums,
             result.vacuum_seconds)
    return result


def _estimate_rows(runner: Runner, table: catalog.Relation) -> int:
    rows = runner.query("SELECT bool_or(c.reltuples < 0), coalesce(sum(greatest(c.reltuples, 0)), 0)::bigint "
                        "FROM pg_partition_tree(:oid) t JOIN pg_class c ON c.oid = t.relid "
                        "WHERE c.relkind IN ('r', 'm', 'f')", oid=table.oid)
    never_analyzed, estimate = rows[0]
    if never_analyzed or not estimate:
        return int(runner.scalar(f"SELECT count(*) FROM {table.sql}"))
    return int(estimate)


@register("backfill", backfill)
class BackfillOp(GuardOp):
    @classmethod
    def backfill(cls, operations: Any, table_name: str, set: Mapping[str, SqlText] | None = None, *,  # noqa: A002
                 schema: str | None = None, where: SqlText | None = None,
                 callback: Callable[[Any, BackfillBatch], int | None] | None = None,
                 key_columns: Sequence[str] | None = None, skip_unchanged: bool = True,
                 batch_size: int | None = None, pause_ms: int | None = None, progress: bool | None = None,
                 duty_cycle: float | None = None, lock_timeout_ms: int | None = None,
                 statement_timeout_ms: int | None = None,
                 attempts: int | None = None, **settings: Any) -> BackfillResult | None:
        """Update ``table_name`` in keyset batches over its primary key, one short transaction each.

        ``set``: ``{column name: SQL expression}`` (strings are SQL, e.g. ``{"total": "price * qty"}``;
        SQLAlchemy expressions work too). ``where``: an extra SQL predicate (rows to touch).
        ``skip_unchanged`` (default True) adds ``ROW(cols) IS DISTINCT FROM ROW(exprs)`` so reruns only
        write rows that still need it. ``callback``: instead of ``set``, ``fn(connection, batch)``
        called inside each batch's transaction with a :class:`BackfillBatch`; returns the rows it
        changed (int) or None. ``key_columns``: walk these (unique, NOT NULL, indexed) columns instead
        of the primary key (composite keys are supported either way).

        Pace (every Settings name is also a keyword here, e.g. ``batch_target_ms=30``):
        ``batch_size`` (rows, default 1000) is the first batch's size; later batches are sized so
        that one takes ``batch_target_ms`` (default 30 ms; 0 = keep ``batch_size``), a batch over
        ``batch_max_ms`` (100 ms) shrinks the next one at once, never more than ``max_batch_size``
        rows. After each batch of *t* ms the backfill sleeps *t* × (1 − d) / d (at least
        ``pause_ms``, default 0), where the duty cycle *d* starts at ``duty_cycle`` (default 1.0)
        and falls towards ``min_duty_cycle`` (0.75) when batches cost more per row than the first
        ones (a busy server). Each time the backfill has written ``vacuum_every`` (default 0.1) of
        the table's estimated rows, at least 10,000, it runs ``VACUUM (SKIP_LOCKED, TRUNCATE false, PARALLEL 0)`` of
        the table between two batches (SHARE UPDATE EXCLUSIVE: blocks no reads or writes), so that
        later batches do not pay for the dead index entries of earlier ones; 0 turns it off.
        Every batch runs under ``lock_timeout_ms`` / ``statement_timeout_ms``
        and is retried on lock timeouts; a batch that hits statement_timeout is retried at half the
        size. Each batch takes ROW EXCLUSIVE on the table and row locks on its rows, released at its
        COMMIT. Shows a progress bar (rows, rows/s, ETA) when ``progress`` is True or, by default,
        when stderr is a terminal, else logs a progress line every 10 s; logs a start and a summary
        line at INFO (logger ``alembic.guard.ops``, shown by the stock ``alembic.ini``).

        Returns a :class:`BackfillResult` (None in ``--sql`` mode, which renders a repeatable batch
        UPDATE instead). Raises GuardError (no such table/column, no primary key and no
        ``key_columns``), ValueError (both or neither of ``set`` and ``callback``),
        LockRetryExhausted, or the database error of a batch (earlier batches stay committed).
        See https://www.postgresql.org/docs/current/sql-update.html and
        https://www.postgresql.org/docs/current/functions-comparisons.html (row-wise comparison).
        """
        return operations.invoke(cls(table_name, set=dict(set) if set else None, schema=schema, where=where,
                                     callback=callback, key_columns=list(key_columns) if key_columns else None,
                                     skip_unchanged=None if skip_unchanged else False, progress=progress,
                                     duty_cycle=duty_cycle,  # a Settings field: split_options moves it there
                                     batch_size=batch_size, pause_ms=pause_ms, lock_timeout_ms=lock_timeout_ms,
                                     statement_timeout_ms=statement_timeout_ms, attempts=attempts, **settings))
