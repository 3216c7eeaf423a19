"""Terminal manners of the command line: colour (NO_COLOR / FORCE_COLOR), width, the progress
line on stderr, and rule pages rendered for the terminal with code never wrapped."""

from __future__ import annotations

import os
import re
import shutil
import sys
import threading
import time
from typing import IO

# rich is imported where it draws, not here: ``check`` imports this module for its progress line,
# which most runs (no terminal, or done within ``delay``) never show; rich and its Markdown parser
# and highlighter cost a large part of the command's start.

DEFAULT_WIDTH = 100  # when the output is no terminal


def color_enabled(stream: IO[str] | None = None) -> bool:
    """Colour on ``stream`` (default stdout): NO_COLOR (any non-empty value, https://no-color.org)
    turns it off, FORCE_COLOR (any non-empty value, https://force-color.org) turns it on even when
    the stream is no terminal; else colour exactly when it is a terminal. NO_COLOR wins."""
    if os.environ.get("NO_COLOR"):
        return False
    if os.environ.get("FORCE_COLOR"):
        return True
    stream = stream if stream is not None else sys.stdout
    try:
        return stream.isatty()
    except (AttributeError, ValueError):
        return False


def terminal_width() -> int:
    """Columns to wrap prose to: ``$COLUMNS``, else the terminal's width, else 100."""
    return max(shutil.get_terminal_size((DEFAULT_WIDTH, 24)).columns, 20)


def is_terminal(stream: IO[str]) -> bool:
    try:
        return stream.isatty()
    except (AttributeError, ValueError):
        return False


class ProgressLine:
    """``revision N of M: <id> <message>`` on stderr, shown only when stderr is a terminal and only
    once the run has lasted ``delay`` seconds; erased when the run ends (rich Status, transient).
    Use as a context manager; call it as the runner's progress callback."""

    def __init__(self, stream: IO[str] | None = None, delay: float = 1.0,
                 first: str = "starting the shadow PostgreSQL"):
        self.stream = stream if stream is not None else sys.stderr
        self.enabled = is_terminal(self.stream)
        self.delay = delay
        self.text = first
        self._status = None
        self._spinner = None
        self._timer: threading.Timer | None = None
        self._lock = threading.Lock()
        self._t0 = time.monotonic()

    def __enter__(self) -> ProgressLine:
        if self.enabled:
            self._timer = threading.Timer(self.delay, self._show)
            self._timer.daemon = True
            self._timer.start()
        return self

    def _show(self) -> None:
        with self._lock:
            if not self.enabled or self._status is not None:
                return
            from rich.console import Console
            from rich.live import Live
            from rich.spinner import Spinner
            from rich.text import Text

            console = Console(file=self.stream, no_color=not color_enabled(self.stream), highlight=False)
            # stdout is left alone (the report goes there); stray stderr lines print above the line
            self._spinner = Spinner("dots", Text(self.text, overflow="ellipsis", no_wrap=True))
            self._status = Live(self._spinner, console=console, transient=True, refresh_per_second=8,
                                redirect_stdout=False, redirect_stderr=True)
            self._status.start()

    def __call__(self, n: int, total: int, revision: str, message: str = "") -> None:
        text = f"revision {n} of {total}: {revision}" + (f" {message}" if message else "")
        with self._lock:
            self.text = text
            if self._status is not None:
                from rich.text import Text

                self._spinner.update(text=Text(text, overflow="ellipsis", no_wrap=True))

    def __exit__(self, *exc) -> None:
        with self._lock:
            if self._timer is not None:
                self._timer.cancel()
            if self._status is not None:
                self._status.stop()
                self._status = None
            self.enabled = False


_FENCE = re.compile(r"^```(\w*)\n(.*?)^```\n?", re.S | re.M)


def render_page(markdown: str, *, color: bool, width: int | None = None) -> str:
    """A Markdown page for the terminal: prose by rich (wrapped to ``width``), fenced code printed
    as it is written (never wrapped, never indented: paste-ready), highlighted when ``color``."""
    import io

    from rich.console import Console
    from rich.markdown import Markdown
    from rich.syntax import Syntax
    from rich.text import Text

    buf = io.StringIO()
    con = Console(file=buf, force_terminal=color, no_color=not color, width=width or terminal_width(),
                  highlight=False, soft_wrap=False)
    text = "\n".join(ln for ln in markdown.splitlines() if not ln.startswith("<!--")) + "\n"
    pos = 0
    for m in _FENCE.finditer(text):
        prose = text[pos:m.start()].strip("\n")
        if prose:
            con.print(Markdown(prose))
            con.print()
        code = m.group(2).rstrip("\n")
        if color:
            con.print(Syntax(code, m.group(1) or "text", theme="ansi_dark", background_color="default",
                             word_wrap=False), soft_wrap=True)
        else:
            con.print(Text(code), soft_wrap=True)
        con.print()
        pos = m.end()
    rest = text[pos:].strip("\n")
    if rest:
        con.print(Markdown(rest))
    return "\n".join(line.rstrip() for line in buf.getvalue().split("\n")).rstrip("\n") + "\n"
