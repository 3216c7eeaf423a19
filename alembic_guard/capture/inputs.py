"""What the project's migration code reads and starts, seen through Python's audit events.

PEP 578 (``sys.addaudithook``, "Audit events table" in the Python docs) raises ``open`` for every
file opened from Python (``open``, ``io.open_code`` for imports, ``os.open``), ``os.listdir`` /
``os.scandir`` for directory listings, and ``subprocess.Popen``, ``os.system``, ``os.exec``,
``os.posix_spawn``, ``os.spawn`` for programs started. Two uses:

- **Inputs of the incremental cache.** A revision may read more than its own file: an SQL file
  beside it, a helper module outside the project directory. A cached trace is reused only while
  every file the revisions read (and every directory they listed) has the bytes (names) it had, so a
  changed ``sql/0042.sql`` re-traces, never reuses a trace of the old SQL (incremental/session.py).
  Environment variables raise no audit event: a revision whose SQL depends on one is not covered.
- **Programs started by a revision** (``psql``, a shell script) may change the database where the
  trace does not look: the revision cannot be "safe" (capture/runner.py adds them to its unseen work).

Only what code in the project's script and version directories (revisions, env.py) calls is
recorded: the stack of the event holds a frame of a file under one of them. Library and
interpreter files (``sys.prefix``, site-packages) and alembic_guard's own are left out: their
versions are in the cache key already.
The hook is installed once per process (audit hooks cannot be removed) and does nothing while no
recording is active.
"""

from __future__ import annotations

import contextlib
import hashlib
import importlib.util
import os
import site
import sys
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

_SPAWN_EVENTS = ("subprocess.Popen", "os.system", "os.exec", "os.posix_spawn", "os.spawn")
_WRITE_FLAGS = os.O_WRONLY | os.O_RDWR | os.O_CREAT | os.O_TRUNC | os.O_APPEND
_active: list[Recorder] = []
_installed = False


def _library_roots() -> tuple[str, ...]:
    roots = {sys.prefix, sys.base_prefix, sys.exec_prefix, str(Path(__file__).resolve().parents[1])}
    with contextlib.suppress(Exception):
        roots.update(site.getsitepackages())
    with contextlib.suppress(Exception):
        roots.add(site.getusersitepackages())
    return tuple(os.path.join(os.path.realpath(r), "") for r in roots if r)


@dataclass
class Spawn:
    """A program started from project code: the innermost script-directory frame and the command."""

    filename: str
    line: int
    command: str


@dataclass
class Recorder:
    """Files read, directories listed and programs started by code under ``roots`` (the script
    directory and the version directories)."""

    roots: tuple[str, ...]
    read: set[str] = field(default_factory=set)
    listed: set[str] = field(default_factory=set)
    spawns: list[Spawn] = field(default_factory=list)
    _libraries: tuple[str, ...] = ()
    _inside: dict[str, bool] = field(default_factory=dict)  # code file name → under the roots

    def __post_init__(self) -> None:
        self.roots = tuple(os.path.join(os.path.realpath(r), "") for r in self.roots)
        self._libraries = _library_roots()

    def _caller(self) -> tuple[str, int] | None:
        """The innermost frame of a file under the roots, or None."""
        f = sys._getframe(2)
        inside = self._inside
        while f is not None:
            name = f.f_code.co_filename
            hit = inside.get(name)
            if hit is None:  # once per code file: realpath costs system calls
                hit = inside[name] = name.startswith(self.roots) or os.path.realpath(name).startswith(self.roots)
            if hit:
                return name, f.f_lineno
            f = f.f_back
        return None

    def _path(self, raw) -> str | None:
        if isinstance(raw, int):
            return None
        path = os.path.realpath(os.fsdecode(raw))
        if path.endswith(".pyc") and "__pycache__" in path:  # an import read the bytecode of a source
            with contextlib.suppress(ValueError):
                path = importlib.util.source_from_cache(path)
        if path.startswith(self._libraries) or path.startswith(("/proc/", "/dev/", "/sys/")):
            return None
        return path

    def event(self, event: str, args: tuple) -> None:
        if event == "open":
            raw, mode, flags = args
            writes = any(c in mode for c in "wax+") if isinstance(mode, str) else bool((flags or 0) & _WRITE_FLAGS)
            if writes:
                return
            if self._caller() is None:
                return
            path = self._path(raw)
            if path:
                self.read.add(path)
        elif event in ("os.listdir", "os.scandir"):
            path = self._path(args[0] if args and args[0] is not None else ".")
            if path and path not in self.listed and self._caller() is not None:
                self.listed.add(path)
        elif event in _SPAWN_EVENTS:
            caller = self._caller()
            if caller is not None:
                self.spawns.append(Spawn(caller[0], caller[1], _command(event, args)))

    def digest(self, root: Path) -> dict[str, str]:
        """``{path: sha256}`` of the files read (``"dir:"`` + path → sha256 of the sorted names of a
        directory listed); paths under ``root`` relative to it (a checkout elsewhere keeps them)."""
        out = {}
        for path in sorted(self.read):
            if os.path.isfile(path):
                out[_name(path, root)] = file_sha(path)
        for path in sorted(self.listed):
            out["dir:" + _name(path, root)] = listing_sha(path)
        return out


def _name(path: str, root: Path) -> str:
    p = Path(path)
    return str(p.relative_to(root)) if p.is_relative_to(root) else str(p)


def file_sha(path: str | os.PathLike[str]) -> str:
    try:
        return hashlib.sha256(Path(path).read_bytes()).hexdigest()
    except OSError:
        return "<unreadable>"


def listing_sha(path: str | os.PathLike[str]) -> str:
    try:
        return hashlib.sha256("\0".join(sorted(os.listdir(path))).encode()).hexdigest()
    except OSError:
        return "<unreadable>"


def changed_inputs(recorded: dict[str, str], root: Path) -> list[str]:
    """The entries of a ``Recorder.digest`` (made under ``root``) whose file or listing differs now."""
    out = []
    for name, sha in recorded.items():
        listing = name.startswith("dir:")
        path = Path(name[4:] if listing else name)
        path = path if path.is_absolute() else root / path
        if (listing_sha(path) if listing else file_sha(path)) != sha:
            out.append(str(path))
    return out


def _command(event: str, args: tuple) -> str:
    if event == "os.system":
        text = os.fsdecode(args[0])
    elif event == "subprocess.Popen":
        cmd = args[1]
        text = os.fsdecode(cmd) if isinstance(cmd, (str, bytes)) else " ".join(os.fsdecode(str(a)) for a in cmd)
    else:  # os.exec / os.posix_spawn / os.spawn: (…, path, argv, env)
        argv = next((a for a in args if isinstance(a, (list, tuple))), None)
        text = " ".join(map(str, argv)) if argv else str(args[0])
    return text if len(text) <= 80 else text[:77] + "..."


def _hook(event: str, args: tuple) -> None:
    if not _active or not (event == "open" or event in _SPAWN_EVENTS or event in ("os.listdir", "os.scandir")):
        return
    for rec in _active:
        try:
            rec.event(event, args)
        except Exception:  # noqa: BLE001 - never break the project's own call
            pass


@contextlib.contextmanager
def recording(roots) -> Iterator[Recorder]:
    """Record what code under ``roots`` (directories) reads and starts, until the block ends. Inside
    a recording of the same roots (check.py's, around the Runner's) that one records: each event
    is looked at once."""
    global _installed
    if not _installed:
        sys.addaudithook(_hook)
        _installed = True
    rec = Recorder(tuple(os.fspath(r) for r in roots))
    outer = next((r for r in _active if r.roots == rec.roots), None)
    if outer is not None:
        yield outer
        return
    _active.append(rec)
    try:
        yield rec
    finally:
        _active.remove(rec)
