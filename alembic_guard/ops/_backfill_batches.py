"""The batch loop of an online backfill: walk the key ranges one batch at a time (one statement,
or the caller's callback in a transaction), halve the batch on statement_timeout, pace the batches
(size and pause from :class:`~._backfill_pace.BatchPace`) and record what each batch did in a
:class:`BackfillResult`."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import exc as sa_exc
from sqlalchemy import text

from ._backfill_pace import BatchPace
from ._backfill_sql import _batch_statement, _bound, _key_tuple
from ._backfill_vacuum import BackfillVacuum
from ._progress import _Progress
from ._retry import STATEMENT_TIMEOUT_SQLSTATE, sqlstate_of
from ._runner import Runner
from ._sql import ident
from ._log import log


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
    written (UPDATE row counts, or what the callback returned); ``vacuums`` / ``vacuum_seconds``:
    the VACUUMs run between batches (``vacuum_every``) and their time (s), part of ``seconds``."""

    table: str
    rows_scanned: int = 0
    rows_updated: int = 0
    batches: int = 0
    seconds: float = 0.0
    longest_batch_ms: float = 0.0
    batch_ms: list[float] = field(default_factory=list, repr=False)
    batch_rows: list[int] = field(default_factory=list, repr=False)
    slept_seconds: float = 0.0
    vacuums: int = 0
    vacuum_seconds: float = 0.0

    @property
    def rows_per_second(self) -> float:
        return self.rows_scanned / self.seconds if self.seconds > 0 else 0.0


def _record(result: BackfillResult, bar: _Progress, started: float, in_range: int, updated: int,
            ms: float, pace: BatchPace) -> None:
    result.batches += 1
    result.rows_scanned += in_range
    result.rows_updated += updated
    result.batch_ms.append(ms)
    result.batch_rows.append(in_range)
    result.longest_batch_ms = max(result.longest_batch_ms, ms)
    bar.advance(in_range, result.rows_scanned, time.monotonic() - started,
                f"batch {in_range:,} rows in {ms:.0f} ms, duty cycle {pace.duty:.0%}")


def _between(result: BackfillResult, pace: BatchPace, vacuum: BackfillVacuum, in_range: int, written: int,
             batch_seconds: float) -> None:
    """Between a batch and the next: size the next batch, sleep the pause the pace asks for, and
    VACUUM the table when ``vacuum_every`` of its rows were written since the last one."""
    pause = pace.after(in_range, batch_seconds)
    if pause > 0:
        result.slept_seconds += pause
        time.sleep(pause)
    vacuum.after_batch(written)
    result.vacuums, result.vacuum_seconds = vacuum.vacuums, vacuum.seconds


def _walk_statements(runner: Runner, table_sql: str, key_names: list[str], key_types: list[str], set_sql: str,
                     extra: str, what: str, result: BackfillResult, bar: _Progress, started: float,
                     pace: BatchPace, vacuum: BackfillVacuum) -> None:
    """``set=`` backfills: each batch is ONE statement, run on its own (autocommit, so the statement
    is the batch's whole transaction) under session-level lock_timeout / statement_timeout.

    One round trip per batch: the statement picks the next ``batch_size`` keys after the last one
    (an index walk), updates that key range and returns the range's last key and the counts. Under
    CPU contention every extra round trip costs a scheduling delay on both sides, so this matters
    more than the SQL itself. The same statement text repeats, so psycopg 3 prepares it server-side
    after a few batches (no parse/plan per batch)."""
    s = runner.settings
    key_sql = _key_tuple(key_names)
    lower: tuple[Any, ...] | None = None
    lt, st = runner.timeouts(True)
    with runner.session_timeouts(lt, st):
        while True:
            lo_sql = f"{key_sql} > {_bound('lo', key_types)}" if lower is not None else "true"
            params = {f"lo{i}": v for i, v in enumerate(lower or ())}
            batch_size = pace.size
            statement = _batch_statement(table_sql, key_names, lo_sql, batch_size, set_sql, extra)
            number = result.batches + 1

            def work(conn: Any, statement: str = statement, params: dict[str, Any] = params) -> Any:
                return conn.execute(text(statement), params).one()

            t0 = time.monotonic()
            try:
                row = runner.single_statement(f"backfill {table_sql} batch {number} ({what})", work, lt)
            except sa_exc.DBAPIError as exc:
                if sqlstate_of(exc) == STATEMENT_TIMEOUT_SQLSTATE and batch_size > 1:
                    log.warning("backfill %s: batch %d hit statement_timeout (%d ms); halving the batch size to %d",
                                table_sql, number, s.statement_timeout_ms, pace.shrink())
                    continue
                raise
            batch_seconds = time.monotonic() - t0
            in_range, updated = int(row[0]), int(row[1])
            if in_range == 0:
                break
            _record(result, bar, started, in_range, updated, batch_seconds * 1000, pace)
            log.debug("backfill %s batch %d: %d rows in range, %d updated, %.1f ms",
                      table_sql, number, in_range, updated, batch_seconds * 1000)
            if in_range < batch_size:
                break
            lower = tuple(row[2:])
            _between(result, pace, vacuum, in_range, updated, batch_seconds)


def _walk_callback(runner: Runner, table_sql: str, key_names: list[str], key_types: list[str], callback: Any,
                   what: str, result: BackfillResult, bar: _Progress, started: float, pace: BatchPace,
                   vacuum: BackfillVacuum) -> None:
    """``callback=`` backfills: the batch's key range is found first (an index-only walk outside any
    transaction), then the callback runs in the batch's own transaction."""
    s = runner.settings
    key_sql, key_order = _key_tuple(key_names), ", ".join(key_names)
    lower: tuple[Any, ...] | None = None
    while True:
        batch_size = pace.size
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

        def work(conn: Any, batch: BackfillBatch = batch) -> int | None:
            changed = callback(conn, batch)
            return None if changed is None else int(changed or 0)

        t0 = time.monotonic()
        try:
            changed = runner.transaction(f"backfill {table_sql} batch {batch.number} ({what})", work)
        except sa_exc.DBAPIError as exc:
            if sqlstate_of(exc) == STATEMENT_TIMEOUT_SQLSTATE and batch_size > 1 and upper is not None:
                log.warning("backfill %s: batch %d hit statement_timeout (%d ms); halving the batch size to %d",
                            table_sql, batch.number, s.statement_timeout_ms, pace.shrink())
                continue
            raise
        batch_seconds = time.monotonic() - t0
        updated = changed or 0
        _record(result, bar, started, in_range, updated, batch_seconds * 1000, pace)
        log.debug("backfill %s batch %d: %d rows in range, %d updated, %.1f ms",
                  table_sql, batch.number, in_range, updated, batch_seconds * 1000)
        if upper is None:
            break
        lower = upper
        # a callback that does not say what it changed may have written every row of its range
        _between(result, pace, vacuum, in_range, in_range if changed is None else updated, batch_seconds)

