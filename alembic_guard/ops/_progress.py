"""A rich progress bar for long operations (rows done, rows/s, ETA), shown on a terminal."""

from __future__ import annotations

import sys


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
