"""The VACUUM a long backfill runs between its batches, every ``vacuum_every`` of the table's rows.

Why: a backfill commits after every batch, so the old row versions of every earlier batch are dead
by the time the next one runs. Each non-HOT update inserts an entry into every index of the table,
and when a btree leaf page is full PostgreSQL first tries *bottom-up index deletion* (PostgreSQL
14+, https://www.postgresql.org/docs/current/btree.html#BTREE-DELETION): it visits the heap to find
which entries on the page point to dead versions. With a commit per batch there are many such
entries, and that visit was 38% of the backend's CPU in a profile of a batched backfill (18% for
the same rows in one transaction): the batches cost 35–50% more CPU per row than one ``UPDATE``.
A plain ``VACUUM`` removes the dead index entries in one sequential pass over each index and makes
the dead heap space reusable, so the following batches find little to delete. Measured on the
benchmark's 1M-row table (4 secondary indexes), a VACUUM every 10% of the rows cut the backfill's
backend CPU from 47–53 s to 24–32 s (one ``UPDATE`` of the same rows: 24–25 s), see
docs/benchmarks.md.

How it runs, so that it never stands in the application's way:

- ``VACUUM (SKIP_LOCKED, TRUNCATE false, PARALLEL 0) <table>``. ``VACUUM`` takes SHARE UPDATE
  EXCLUSIVE, which conflicts with no reads or writes
  (https://www.postgresql.org/docs/current/explicit-locking.html); ``SKIP_LOCKED`` (PostgreSQL 12+)
  skips the table at once when that lock is taken (an autovacuum of the table is running, or a
  DDL), instead of queueing; ``TRUNCATE false`` (12+) leaves out the truncation of empty pages at
  the end of the table, the one step of a VACUUM that takes ACCESS EXCLUSIVE (briefly, and on
  standbys too); ``PARALLEL 0`` (13+) keeps the index passes in this one backend, leaving the other
  cores to the application (https://www.postgresql.org/docs/current/sql-vacuum.html). On a server
  before 13 (``pg_versions.VACUUM_BACKFILL_OPTIONS``) the backfill runs no VACUUM.
- Outside any transaction block (``VACUUM`` cannot run in one), once, never retried, under the
  timeouts of the steps that block no traffic (``concurrent_lock_timeout_ms`` /
  ``concurrent_statement_timeout_ms``).
- Only once the backfill has written ``vacuum_every`` × the table's estimated rows since the last
  VACUUM, and at least :data:`MIN_ROWS`; never after the last batch (autovacuum is left what
  remains). A VACUUM that fails (no privilege is only a WARNING; a timeout, a cancel) is logged
  and turns the VACUUMs off for the rest of the backfill; the backfill itself goes on.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

from ..pg_versions import VACUUM_BACKFILL_OPTIONS
from ._log import log
from ._runner import Runner

def vacuum_sql(table_sql: str) -> str:
    """The VACUUM run between batches (module docstring), for ``table_sql`` (quoted)."""
    return f"VACUUM (SKIP_LOCKED, TRUNCATE false, PARALLEL 0) {table_sql}"


#: rows written since the last VACUUM below which none is run, whatever ``vacuum_every`` says: on a
#: small table the dead entries are few and a VACUUM costs more than it saves
MIN_ROWS = 10_000


@dataclass
class BackfillVacuum:
    """When and how a backfill vacuums its table. ``threshold``: rows written between two VACUUMs
    (0 = never). Call :meth:`after_batch` with the rows each batch wrote."""

    runner: Runner
    table_sql: str
    threshold: int
    written: int = 0
    vacuums: int = 0
    seconds: float = 0.0

    @classmethod
    def for_table(cls, runner: Runner, table_sql: str, estimated_rows: int) -> BackfillVacuum:
        every = runner.settings.vacuum_every
        if not VACUUM_BACKFILL_OPTIONS.on(runner.server_version_num):
            every = 0
        threshold = max(MIN_ROWS, int(every * estimated_rows)) if every > 0 else 0
        return cls(runner, table_sql, threshold)

    @property
    def enabled(self) -> bool:
        return self.threshold > 0

    def after_batch(self, rows_written: int) -> None:
        """Count a batch's written rows; VACUUM the table when ``threshold`` rows were written since
        the last VACUUM. Call it only when another batch follows."""
        if not self.enabled:
            return
        self.written += rows_written
        if self.written < self.threshold:
            return
        self.written = 0
        t0 = time.monotonic()
        try:
            # once, not through the lock-retry loop: it is an optimisation, worth no backoff
            with self.runner.session_timeouts(*self.runner.timeouts(False)):
                self.runner.run(vacuum_sql(self.table_sql))
        except Exception as exc:  # noqa: BLE001  (the VACUUM is an optimisation: the backfill goes on)
            self.threshold = 0
            log.warning("backfill %s: VACUUM between batches failed, the backfill goes on without it: %s",
                        self.table_sql, str(exc).splitlines()[0] if str(exc) else type(exc).__name__)
            return
        seconds = time.monotonic() - t0
        self.vacuums += 1
        self.seconds += seconds
        log.debug("backfill %s: VACUUM %d took %.0f ms", self.table_sql, self.vacuums, seconds * 1000)
