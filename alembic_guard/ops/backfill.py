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

Throttling: ``pause_ms`` (a fixed sleep between batches) and ``duty_cycle`` (a sleep proportional to
the batch just run, so batches take at most that share of the wall time); the longer one applies.
"""

from __future__ import annotations

import logging
import sys
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import exc as sa_exc
from sqlalchemy import text

from ..errors import GuardError
from . import _catalog as catalog
from ._base import GuardOp, register
from ._runner import STATEMENT_TIMEOUT_SQLSTATE, Runner, sqlstate_of
from ._sql import SqlText, fragment, ident, ident_list, qualified

log = logging.getLogger("alembic_guard.ops")

#: share of wall time a backfill spends inside batches when no ``duty_cycle`` is given
DEFAULT_DUTY_CYCLE = 1.0


@dataclass
class BackfillBatch:
    """One key range, given to a ``callback`` together with the connection (inside the batch's
    transaction). ``key_range_sql`` is a SQL condition with SQLAlchemy bind names, to be used with
    ``params``::

        conn.execute(sa.text(f"UPDATE {batch.table} SET x = … WHERE {batch.key_range_sql}"), batch.params)
    """

    table: str  # quoted, schema-qualified
    key_columns: list[str]  # quoted
    lower: tuple[Any, ...] | None  # exclusive; None = from the start
    upper: tuple[Any, ...] | None  # inclusive; None = to the end
    number: int
    key_range_sql: str
    params: dict[str, Any]

    def select(self, conn: Any, *columns: str) -> list[Any]:
        """Rows (key columns + ``columns``, quoted as identifiers) of this batch, locked FOR UPDATE."""
        cols = ", ".join(self.key_columns + [ident(c) for c in columns])
        return list(conn.execute(text(f"SELECT {cols} FROM {self.table} WHERE {self.key_range_sql} "
                                      f"ORDER BY {', '.join(self.key_columns)} FOR UPDATE"), self.params))


@dataclass
class BackfillResult:
    """What a backfill did. ``rows_scanned``: rows in the key ranges walked; ``rows_updated``: rows
    written (UPDATE row counts, or what the callback returned)."""

    table: str
    rows_scanned: int = 0
    rows_updated: int = 0
    batches: int = 0
    seconds: float = 0.0
    longest_batch_ms: float = 0.0
    batch_ms: list[float] = field(default_factory=list, repr=False)

    @property
    def rows_per_second(self) -> float:
        return self.rows_scanned / self.seconds if self.seconds > 0 else 0.0


def _key_tuple(names: Sequence[str]) -> str:
    return "(" + ", ".join(names) + ")"


def _bound(prefix: str, types: Sequence[str]) -> str:
    return "(" + ", ".join(f"CAST(:{prefix}{i} AS {t})" for i, t in enumerate(types)) + ")"


def backfill(runner: Runner, table_name: str, set: Mapping[str, SqlText] | None = None, *,  # noqa: A002
             schema: str | None = None, where: SqlText | None = None,
             callback: Callable[[Any, BackfillBatch], int | None] | None = None,
             key_columns: Sequence[str] | None = None, skip_unchanged: bool = True,
             progress: bool | None = None, duty_cycle: float | None = None) -> BackfillResult | None:
    assignments = dict(set or {})
    if bool(assignments) == bool(callback):
        raise ValueError("backfill needs exactly one of set={column: sql} or callback=fn(connection, batch)")
    where_sql = fragment(where) if where is not None else None
    with runner.outside_transaction():
        if runner.offline:
            _offline(runner, table_name, schema, assignments, where_sql, callback, key_columns, skip_unchanged)
            return None
        return _online(runner, table_name, schema, assignments, where_sql, callback, key_columns,
                       skip_unchanged, progress, DEFAULT_DUTY_CYCLE if duty_cycle is None else duty_cycle)


def _online(runner: Runner, table_name: str, schema: str | None, assignments: dict[str, SqlText],
            where_sql: str | None, callback: Any, key_columns: Sequence[str] | None, skip_unchanged: bool,
            progress: bool | None, duty_cycle: float) -> BackfillResult:
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
    bar = _Progress(f"backfill {table.sql}", total, progress)
    throttle = _Throttle(s.batch_pause_ms, duty_cycle)
    with bar:
        if callback is None:
            _walk_statements(runner, table.sql, key_names, key_types, set_sql, extra, what, result, bar,
                             started, throttle)
        else:
            _walk_callback(runner, table.sql, key_names, key_types, callback, what, result, bar, started, throttle)
    result.seconds = time.monotonic() - started
    log.info("backfill %s (%s): %d rows updated, %d scanned in %d batches, %.1f s (%.0f rows/s), longest batch %.0f ms",
             table.sql, what, result.rows_updated, result.rows_scanned, result.batches, result.seconds,
             result.rows_per_second, result.longest_batch_ms)
    return result


class _Throttle:
    """The pause after a batch: ``batch_pause_ms``, or, when longer, the pause that keeps the share
    of wall time spent inside batches at ``duty_cycle`` (pause = batch time × (1 − duty) / duty).

    The duty-cycle pause scales with what a batch costs *now*: when the server is busy (batches get
    slower) the backfill backs off in proportion, and the idle gaps let queued application queries
    run on the CPU the batch would otherwise take."""

    def __init__(self, pause_ms: int, duty_cycle: float):
        if not 0 < duty_cycle <= 1:
            raise ValueError(f"duty_cycle must be in (0, 1], not {duty_cycle!r}")
        self.pause = pause_ms / 1000
        self.factor = (1 - duty_cycle) / duty_cycle

    def after(self, batch_seconds: float) -> None:
        pause = max(self.pause, batch_seconds * self.factor)
        if pause > 0:
            time.sleep(pause)


def _record(result: BackfillResult, bar: _Progress, started: float, in_range: int, updated: int,
            ms: float) -> None:
    result.batches += 1
    result.rows_scanned += in_range
    result.rows_updated += updated
    result.batch_ms.append(ms)
    result.longest_batch_ms = max(result.longest_batch_ms, ms)
    bar.advance(in_range, result.rows_scanned, time.monotonic() - started)


def _walk_statements(runner: Runner, table_sql: str, key_names: list[str], key_types: list[str], set_sql: str,
                     extra: str, what: str, result: BackfillResult, bar: _Progress, started: float,
                     throttle: _Throttle) -> None:
    """``set=`` backfills: each batch is ONE statement, run on its own (autocommit, so the statement
    is the batch's whole transaction) under session-level lock_timeout / statement_timeout.

    One round trip per batch: the statement picks the next ``batch_size`` keys after the last one
    (an index walk), updates that key range and returns the range's last key and the counts. Under
    CPU contention every extra round trip costs a scheduling delay on both sides, so this matters
    more than the SQL itself. The same statement text repeats, so psycopg 3 prepares it server-side
    after a few batches (no parse/plan per batch)."""
    s = runner.settings
    batch_size = s.batch_size
    key_sql, key_order = _key_tuple(key_names), ", ".join(key_names)
    key_desc = ", ".join(f"{k} DESC" for k in key_names)
    lower: tuple[Any, ...] | None = None
    lt, st = runner.timeouts(True)
    with runner.session_timeouts(lt, st):
        while True:
            lo_sql = f"{key_sql} > {_bound('lo', key_types)}" if lower is not None else "true"
            params = {f"lo{i}": v for i, v in enumerate(lower or ())}
            statement = (
                f"WITH {_BATCH} AS MATERIALIZED (SELECT {key_order} FROM {table_sql} WHERE {lo_sql} "
                f"ORDER BY {key_order} LIMIT {batch_size}), "
                f"{_LAST} AS (SELECT {key_order} FROM {_BATCH} ORDER BY {key_desc} LIMIT 1), "
                f"{_UPD} AS (UPDATE {table_sql} SET {set_sql} WHERE {lo_sql} AND {key_sql} <= "
                f"(SELECT {key_order} FROM {_LAST}){extra} RETURNING 1) "
                f"SELECT (SELECT count(*) FROM {_BATCH}), (SELECT count(*) FROM {_UPD}), "
                f"{', '.join(f'{_LAST}.{k}' for k in key_names)} FROM (SELECT) AS one LEFT JOIN {_LAST} ON true")
            number = result.batches + 1

            def work(conn: Any, statement: str = statement, params: dict[str, Any] = params) -> Any:
                return conn.execute(text(statement), params).one()

            t0 = time.monotonic()
            try:
                row = runner.single_statement(f"backfill {table_sql} batch {number} ({what})", work, lt)
            except sa_exc.DBAPIError as exc:
                if sqlstate_of(exc) == STATEMENT_TIMEOUT_SQLSTATE and batch_size > 1:
                    batch_size = max(1, batch_size // 2)
                    log.warning("backfill %s: batch %d hit statement_timeout (%d ms); halving the batch size to %d",
                                table_sql, number, s.statement_timeout_ms, batch_size)
                    continue
                raise
            batch_seconds = time.monotonic() - t0
            in_range, updated = int(row[0]), int(row[1])
            if in_range == 0:
                break
            _record(result, bar, started, in_range, updated, batch_seconds * 1000)
            log.debug("backfill %s batch %d: %d rows in range, %d updated, %.1f ms",
                      table_sql, number, in_range, updated, batch_seconds * 1000)
            if in_range < batch_size:
                break
            lower = tuple(row[2:])
            throttle.after(batch_seconds)


# names of the CTEs of the batch statement (unlikely to collide with the caller's SQL)
_BATCH, _LAST, _UPD = "alembic_guard_batch", "alembic_guard_last", "alembic_guard_updated"


def _walk_callback(runner: Runner, table_sql: str, key_names: list[str], key_types: list[str], callback: Any,
                   what: str, result: BackfillResult, bar: _Progress, started: float, throttle: _Throttle) -> None:
    """``callback=`` backfills: the batch's key range is found first (an index-only walk outside any
    transaction), then the callback runs in the batch's own transaction."""
    s = runner.settings
    batch_size = s.batch_size
    key_sql, key_order = _key_tuple(key_names), ", ".join(key_names)
    lower: tuple[Any, ...] | None = None
    while True:
        lo_params = {f"lo{i}": v for i, v in enumerate(lower or ())}
        lo_sql = f"{key_sql} > {_bound('lo', key_types)}" if lower is not None else "true"
        upper_rows = runner.query(f"SELECT {key_order} FROM {table_sql} WHERE {lo_sql} "
                                  f"ORDER BY {key_order} OFFSET {batch_size - 1} LIMIT 1", **lo_params)
        upper = tuple(upper_rows[0]) if upper_rows else None
        if upper is None:
            in_range = int(runner.scalar(f"SELECT count(*) FROM {table_sql} WHERE {lo_sql}", **lo_params))
            if in_range == 0:
                break
        else:
            in_range = batch_size
        hi_params = {f"hi{i}": v for i, v in enumerate(upper or ())}
        bounds = [lo_sql] if lower is not None else []
        if upper is not None:
            bounds.append(f"{key_sql} <= {_bound('hi', key_types)}")
        range_sql = " AND ".join(bounds) or "true"
        params = {**lo_params, **hi_params}
        batch = BackfillBatch(table_sql, key_names, lower, upper, result.batches + 1, range_sql, params)

        def work(conn: Any, batch: BackfillBatch = batch) -> int:
            return int(callback(conn, batch) or 0)

        t0 = time.monotonic()
        try:
            updated = runner.transaction(f"backfill {table_sql} batch {batch.number} ({what})", work)
        except sa_exc.DBAPIError as exc:
            if sqlstate_of(exc) == STATEMENT_TIMEOUT_SQLSTATE and batch_size > 1 and upper is not None:
                batch_size = max(1, batch_size // 2)
                log.warning("backfill %s: batch %d hit statement_timeout (%d ms); halving the batch size to %d",
                            table_sql, batch.number, s.statement_timeout_ms, batch_size)
                continue
            raise
        batch_seconds = time.monotonic() - t0
        _record(result, bar, started, in_range, updated, batch_seconds * 1000)
        log.debug("backfill %s batch %d: %d rows in range, %d updated, %.1f ms",
                  table_sql, batch.number, in_range, updated, batch_seconds * 1000)
        if upper is None:
            break
        lower = upper
        throttle.after(batch_seconds)


def _estimate_rows(runner: Runner, table: catalog.Relation) -> int:
    rows = runner.query("SELECT bool_or(c.reltuples < 0), coalesce(sum(greatest(c.reltuples, 0)), 0)::bigint "
                        "FROM pg_partition_tree(:oid) t JOIN pg_class c ON c.oid = t.relid "
                        "WHERE c.relkind IN ('r', 'm', 'f')", oid=table.oid)
    never_analyzed, estimate = rows[0]
    if never_analyzed or not estimate:
        return int(runner.scalar(f"SELECT count(*) FROM {table.sql}"))
    return int(estimate)


class _Progress:
    """A rich progress bar (rows done, rows/s, ETA) when ``enabled`` (None: stderr is a terminal)."""

    def __init__(self, description: str, total: int, enabled: bool | None):
        if enabled is None:
            enabled = sys.stderr.isatty()
        self.progress = None
        self.task = None
        if enabled:
            from rich.console import Console
            from rich.progress import (BarColumn, MofNCompleteColumn, Progress, TextColumn,
                                       TimeElapsedColumn, TimeRemainingColumn)

            self.progress = Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                                     TextColumn("rows  {task.fields[rate]:>9} rows/s"), TimeElapsedColumn(),
                                     TextColumn("ETA"), TimeRemainingColumn(),
                                     console=Console(stderr=True), transient=False)
            self.task = self.progress.add_task(description, total=max(total, 1), rate="-")

    def __enter__(self) -> _Progress:
        if self.progress is not None:
            self.progress.start()
        return self

    def __exit__(self, *exc: object) -> None:
        if self.progress is not None:
            self.progress.stop()

    def advance(self, rows: int, done: int, seconds: float) -> None:
        if self.progress is not None and self.task is not None:
            task = self.progress.tasks[0]
            total = max(task.total or 0, done)
            self.progress.update(self.task, completed=done, total=total,
                                 rate=f"{done / seconds:,.0f}" if seconds > 0 else "-")


def _offline(runner: Runner, table_name: str, schema: str | None, assignments: dict[str, SqlText],
             where_sql: str | None, callback: Any, key_columns: Sequence[str] | None, skip_unchanged: bool) -> None:
    table_sql = qualified(table_name, schema)
    s = runner.settings
    if callback is not None:
        name = getattr(callback, "__qualname__", repr(callback))
        runner.comment(f"backfill {table_sql} with the Python callback {name}: it cannot be rendered as SQL;")
        runner.comment("run this revision online (alembic upgrade without --sql) or write the UPDATE by hand.")
        runner.blank()
        log.warning("backfill of %s with a callback cannot be rendered in --sql mode", table_sql)
        return
    cols = [(ident(c), fragment(e)) for c, e in assignments.items()]
    set_sql = ", ".join(f"{c} = {e}" for c, e in cols)
    predicates = [f"({where_sql})"] if where_sql else []
    if skip_unchanged:
        predicates.append(f"ROW({', '.join(c for c, _ in cols)}) IS DISTINCT FROM ROW({', '.join(e for _, e in cols)})")
    if not predicates:
        raise GuardError(f"backfill of {table_sql} with skip_unchanged=False and no where= cannot be rendered "
                         "as a repeatable batch statement (it would never reach UPDATE 0).")
    if key_columns:
        pick = f"{_key_tuple([ident(k) for k in key_columns])} IN (SELECT {ident_list(list(key_columns))}"
        order = f" ORDER BY {ident_list(list(key_columns))}"
        close = ")"
    else:
        pick, order, close = "ctid = ANY (ARRAY(SELECT ctid", "", "))"
    statement = (f"UPDATE {table_sql} SET {set_sql} WHERE {pick} FROM {table_sql} WHERE {' AND '.join(predicates)}"
                 f"{order} LIMIT {s.batch_size} FOR UPDATE SKIP LOCKED{close}")
    runner.comment(f"backfill {table_sql} SET {set_sql}")
    runner.comment("Run outside a transaction, in batches: execute the UPDATE below repeatedly, each run in its own")
    runner.comment("transaction (autocommit), until it reports UPDATE 0; sleep between runs to throttle")
    runner.comment(f"(batch_pause_ms = {s.batch_pause_ms}). Each run changes at most {s.batch_size} rows that still")
    runner.comment("need it, so a rerun after an interruption is safe. Each run searches from the start of the")
    runner.comment("table for such rows; on a large table index the predicate, or run online where alembic_guard")
    runner.comment("walks the primary key in keyset batches. In psql, end the statement with \\watch 0.1")
    runner.comment("and stop it (Ctrl-C) once it reports UPDATE 0.")
    runner.autocommit(f"backfill {table_sql}", [statement], blocking=True)


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

        ``batch_size`` (rows, default 1000) and ``pause_ms`` (sleep between batches, default 0);
        ``duty_cycle`` (0 < d ≤ 1, default 1): after each batch also sleep batch time × (1 − d) / d, so
        the backfill backs off in proportion when the server is busy (the longer pause applies);
        every batch runs under ``lock_timeout_ms`` / ``statement_timeout_ms`` and is retried on lock
        timeouts; a batch that hits statement_timeout is retried at half the size. Each batch takes
        ROW EXCLUSIVE on the table and row locks on at most ``batch_size`` rows, released at its
        COMMIT. Shows a progress bar (rows, rows/s, ETA) when ``progress`` is True or, by default,
        when stderr is a terminal; logs a one-line summary (logger ``alembic_guard.ops``).

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
                                     duty_cycle=duty_cycle,
                                     batch_size=batch_size, pause_ms=pause_ms, lock_timeout_ms=lock_timeout_ms,
                                     statement_timeout_ms=statement_timeout_ms, attempts=attempts, **settings))
