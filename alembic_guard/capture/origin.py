"""Attribute a statement to the revision file line that caused it, by walking the Python stack.

The innermost frame whose file is a revision script is the ``op.*`` call (or ``op.execute``, or the
line calling a user helper that emits the SQL).
"""

from __future__ import annotations

import os
import sys
from types import FrameType, TracebackType


# the package of the safe operations (op.backfill & co.): their statements are ours, not the revision's
_OPS_DIR = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "ops") + os.sep


class RevisionFiles:
    """Maps revision script paths to revision ids; caches path normalisation per code filename."""

    def __init__(self, paths: dict[str, str]):
        self._by_path = {os.path.realpath(p): rev for p, rev in paths.items()}
        self._cache: dict[str, str | None] = {}

    def revision_of(self, filename: str) -> str | None:
        if filename not in self._cache:
            self._cache[filename] = self._by_path.get(os.path.realpath(filename))
        return self._cache[filename]

    def from_stack(self, frame: FrameType | None = None) -> tuple[str, str, int] | None:
        """``(revision, path, line)`` of the innermost revision-script frame, or None.

        Past the outermost frame of a greenlet the walk goes on in the greenlet that started it, where
        it waits: ``op.run_async(fn)`` runs ``fn`` (a coroutine of the revision) on the event loop, and
        SQLAlchemy's async connection executes each statement in a greenlet of its own
        (``greenlet_spawn``), whose parent is suspended inside ``fn``."""
        f = frame or sys._getframe(1)
        g = _current_greenlet()
        while True:
            while f is not None:
                rev = self.revision_of(f.f_code.co_filename)
                if rev is not None:
                    return rev, f.f_code.co_filename, f.f_lineno
                f = f.f_back
            g = getattr(g, "parent", None)
            if g is None:
                return None
            f = g.gr_frame

    def via_ops(self, frame: FrameType | None = None) -> bool:
        """Whether the statement being executed was issued by an ``alembic_guard.ops`` operation
        (a frame of that package sits between the driver call and the innermost revision frame)."""
        f = frame or sys._getframe(1)
        while f is not None and self.revision_of(f.f_code.co_filename) is None:
            if _OPS_DIR in f.f_code.co_filename:
                return True
            f = f.f_back
        return False

    def from_traceback(self, tb: TracebackType | None) -> tuple[str, str, int] | None:
        """The innermost revision-script frame of an exception's traceback."""
        found = None
        while tb is not None:
            rev = self.revision_of(tb.tb_frame.f_code.co_filename)
            if rev is not None:
                found = (rev, tb.tb_frame.f_code.co_filename, tb.tb_lineno)
            tb = tb.tb_next
        return found


def _current_greenlet():
    """The running greenlet, or None without the greenlet package (SQLAlchemy's async support)."""
    try:
        from greenlet import getcurrent
    except ImportError:
        return None
    return getcurrent()
