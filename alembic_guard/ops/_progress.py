"""Progress of a long operation (rows done, rows/s, ETA): a rich progress bar on a terminal, else
a log line at INFO every ``LOG_EVERY_S`` seconds (logger ``alembic.guard.ops``, which the stock
``alembic.ini`` shows), so a migration run by a deploy job or in CI still reports where it is."""

from __future__ import annotations

import sys
import time

from ._log import log

#: seconds between two progress log lines when no bar is shown
LOG_EVERY_S = 10.0


class _Progress:
    """A rich progress bar (rows done, rows/s, ETA) when ``enabled`` (None: stderr is a terminal),
    else periodic progress log lines."""

    def __init__(self, description: str, total: int, enabled: bool | None):
        if enabled is None:
            enabled = sys.stderr.isatty()
        self.description = description
        self.total = total
        self.progress = None
        self.task = None
        self.next_log = time.monotonic() + LOG_EVERY_S
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

    def advance(self, rows: int, done: int, seconds: float, detail: str = "") -> None:
        """``rows`` just done, ``done`` in all, ``seconds`` since the start; ``detail`` ends the log line."""
        if self.progress is not None and self.task is not None:
            task = self.progress.tasks[0]
            total = max(task.total or 0, done)
            self.progress.update(self.task, completed=done, total=total,
                                 rate=f"{done / seconds:,.0f}" if seconds > 0 else "-")
            return
        now = time.monotonic()
        if now < self.next_log:
            return
        self.next_log = now + LOG_EVERY_S
        total = max(self.total, done)
        rate = done / seconds if seconds > 0 else 0.0
        eta = f", ETA {(total - done) / rate:.0f} s" if rate > 0 else ""
        log.info("%s: %s / %s rows (%.0f%%), %s rows/s%s%s", self.description, f"{done:,}", f"{total:,}",
                 100 * done / total if total else 100.0, f"{rate:,.0f}", eta, f"; {detail}" if detail else "")
