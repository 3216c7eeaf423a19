"""The on-disk cache of PostgreSQL data directories: where it lives, what counts as complete, who may touch it.

Layout, one home per binary directory (key: sha256 of the bin dir and its ``postgres --version``)::

    <root>/clusters/<key>/
        template/    pristine initdb output, never started
        data/        the warm cluster, started in place by the run holding warm.lock; its databases persist
        build.lock   held while the template is built or thrown away (blocking, filelock)
        warm.lock    held for the whole life of the server running on data/ (non-blocking, filelock)
        bindir.txt   the bin dir, for the ``cluster`` provider

``<root>`` is ``$ALEMBIC_GUARD_CACHE``, else ``platformdirs.user_cache_dir("alembic-guard")``
(``$XDG_CACHE_HOME/alembic-guard`` or ``~/.cache/alembic-guard`` on Linux).

Both directories are built in a sibling work dir and renamed into place only when complete, after a
marker file (``MARKER``: format version, ``postgres --version``, bin dir, initdb options, build id) was
written last. A directory without a valid marker (a killed build, an older alembic-guard, another
server version) is treated as absent: removed under its lock and rebuilt. Leftover work dirs of killed
builds are removed under the same lock. A directory that cannot be created or written (read-only file
system, no space left) raises :class:`CacheUnusable`, after removing whatever this run created.
"""

from __future__ import annotations

import contextlib
import errno
import functools
import hashlib
import json
import os
import shutil
import signal
import subprocess
import tempfile
import time
import uuid
from dataclasses import dataclass
from pathlib import Path

import filelock

from ..errors import GuardError
from . import privileges

ENV_CACHE = "ALEMBIC_GUARD_CACHE"
#: Bumped when the layout or initdb options change: older directories are then rebuilt.
FORMAT = 1
MARKER = "alembic-guard-complete.json"
SUPERUSER = "postgres"
INITDB_OPTIONS = ("-U", SUPERUSER, "-A", "trust", "-E", "UTF8", "--locale=C", "--no-sync", "--no-instructions")
#: How long a run waits for another run's template build (initdb takes seconds, minutes on a loaded machine).
BUILD_WAIT_S = 300.0
#: Errors that mean "this directory cannot hold the cache", not "PostgreSQL is broken".
DISK_ERRNOS = frozenset({errno.ENOSPC, errno.EDQUOT, errno.EROFS, errno.EACCES, errno.EPERM, errno.ENOTDIR})
_DISK_TEXTS = tuple(os.strerror(e) for e in (errno.ENOSPC, errno.EDQUOT, errno.EROFS))


class CacheUnusable(GuardError):
    """The cache directory ``path`` cannot be created or written (read-only, full, not a directory)."""

    def __init__(self, path: Path, cause: str):
        super().__init__(f"the cache directory {path} is not usable: {cause}.")
        self.dir = path
        self.cause = cause


def cache_root() -> Path:
    """``$ALEMBIC_GUARD_CACHE``, else the platform's user cache dir for alembic-guard; as root without a
    mount namespace (see :mod:`.privileges`) whose user cache dir the server's uid cannot reach
    (``/root`` is 0700), the site cache dir (``/var/cache/alembic-guard``)."""
    env = os.environ.get(ENV_CACHE)
    if env:
        return Path(env)
    import platformdirs

    user = Path(platformdirs.user_cache_dir("alembic-guard", appauthor=False))
    if privileges.running_as_root() and not _reachable_or_new(user) and not privileges.mount_namespace_works():
        return Path(platformdirs.site_cache_dir("alembic-guard", appauthor=False))
    return user


def _reachable_or_new(path: Path) -> bool:
    """Whether the server's uid can reach ``path``, or its nearest existing parent (we create the rest)."""
    while not path.exists() and path.parent != path:
        path = path.parent
    return privileges.reachable(path)


def root_is_explicit() -> bool:
    """True when the user chose the cache dir (``$ALEMBIC_GUARD_CACHE``)."""
    return bool(os.environ.get(ENV_CACHE))


def server_version(bindir: Path) -> str:
    """``postgres --version`` output, e.g. ``postgres (PostgreSQL) 18.6``. Raises GuardError."""
    try:
        stamp = (bindir / "postgres").stat().st_mtime_ns
    except OSError as exc:
        raise GuardError(f"cannot run {bindir / 'postgres'}: {exc}") from exc
    return _server_version(str(bindir), stamp)


@functools.lru_cache(maxsize=64)
def _server_version(bindir: str, _stamp: int) -> str:  # one subprocess per binary (and mtime) per process
    bindir = Path(bindir)
    try:
        out = subprocess.run([str(bindir / "postgres"), "--version"], capture_output=True, text=True, timeout=30)
    except (OSError, subprocess.SubprocessError) as exc:
        raise GuardError(f"cannot run {bindir / 'postgres'}: {exc}") from exc
    return out.stdout.strip()


def _identity(bindir: Path) -> dict:
    return {"format": FORMAT, "server_version": server_version(bindir), "bindir": str(bindir.resolve()),
            "initdb": list(INITDB_OPTIONS)}


def read_marker(directory: Path) -> dict | None:
    """The marker of ``directory`` as a dict, or None when absent or unreadable."""
    try:
        marker = json.loads((directory / MARKER).read_text())
    except (OSError, ValueError):
        return None
    return marker if isinstance(marker, dict) else None


def is_complete(directory: Path, bindir: Path) -> bool:
    """Whether ``directory`` is a finished data dir for ``bindir``: its marker matches (format, server
    version, bin dir, initdb options) and ``PG_VERSION`` exists."""
    marker = read_marker(directory)
    if marker is None or not (directory / "PG_VERSION").is_file():
        return False
    return {k: marker.get(k) for k in ("format", "server_version", "bindir", "initdb")} == _identity(bindir)


def _write_marker(directory: Path, bindir: Path, **extra: str) -> None:
    """Written last, then fsynced, so that a directory with a marker is a finished one."""
    path = directory / MARKER
    with open(path, "w") as fh:
        json.dump({**_identity(bindir), **extra}, fh)
        fh.flush()
        os.fsync(fh.fileno())


def disk_problem(exc: BaseException | str) -> bool:
    """Whether an error (an OSError, a shutil.Error, initdb's output) says the disk cannot take our files."""
    if isinstance(exc, OSError) and not isinstance(exc, shutil.Error) and exc.errno in DISK_ERRNOS:
        return True
    return any(text in str(exc) for text in _DISK_TEXTS)


def _lock(path: Path) -> filelock.FileLock:
    # thread_local=False: the server may be stopped from another thread than the one that started it
    return filelock.FileLock(str(path), thread_local=False)


def _rmtree(path: Path) -> None:
    shutil.rmtree(path, ignore_errors=True)


STAGE_PREFIX = "ag-initdb-"


def _sweep_stages(parent: Path) -> None:
    """Remove the initdb stage dirs (``ag-initdb-<pid>-*``) of builds whose process is gone, and
    unnamed ones (an older release's) after an hour: a build killed with SIGKILL leaves its own."""
    for stage in parent.glob(f"{STAGE_PREFIX}*"):
        try:
            st = stage.lstat()
            if not stage.is_dir() or stage.is_symlink() or not (st.st_uid == os.geteuid()
                                                                  or privileges.server_owns(stage)):
                continue
            pid, sep, _rest = stage.name[len(STAGE_PREFIX):].partition("-")
            if pid.isdigit() and sep:
                if privileges.pid_alive(int(pid)):
                    continue  # its build still runs
            elif time.time() - st.st_mtime < 3600:
                continue
            _rmtree(stage)
        except OSError:
            continue


@dataclass
class Home:
    """The cache directory of one bin dir. ``temporary``: a private one for this run only (the real cache
    was unusable), removed with the run; its template is started in place, no warm cluster."""

    path: Path
    bindir: Path
    temporary: bool = False

    @classmethod
    def for_bindir(cls, bindir: Path) -> Home:
        key = hashlib.sha256(f"{bindir.resolve()}|{server_version(bindir)}".encode()).hexdigest()[:16]
        return cls(cache_root() / "clusters" / key, bindir)

    @property
    def template(self) -> Path:
        return self.path / "template"

    @property
    def data(self) -> Path:
        return self.path / "data"

    def _create(self) -> list[Path]:
        """mkdir -p the home and prove it writable; returns the dirs this call created (to remove on
        failure). Raises CacheUnusable."""
        created = []
        for d in reversed([self.path, *self.path.parents]):
            if not d.exists():
                created.append(d)
        try:
            self.path.mkdir(parents=True, exist_ok=True)
            fd, probe = tempfile.mkstemp(prefix=".probe-", dir=self.path)
            os.close(fd)
            os.unlink(probe)
        except OSError as exc:
            self._remove_created(created)
            raise CacheUnusable(self.path, exc.strerror or str(exc)) from exc
        return created

    def _remove_created(self, created: list[Path]) -> None:
        for d in reversed(created):  # only if empty: a concurrent run may have put something there
            with contextlib.suppress(OSError):
                if d == self.path and set(os.listdir(d)) <= {"build.lock", "warm.lock"}:
                    for name in os.listdir(d):
                        (d / name).unlink()
                d.rmdir()

    def ensure_template(self) -> Path:
        """The complete template dir, built (initdb) under the build lock if absent or invalid.

        Raises CacheUnusable (read-only, no space: nothing is left behind) or GuardError (initdb failed,
        another run's build did not finish within BUILD_WAIT_S)."""
        if is_complete(self.template, self.bindir):
            return self.template
        created = self._create()
        try:
            with _lock(self.path / "build.lock").acquire(timeout=BUILD_WAIT_S):
                if not is_complete(self.template, self.bindir):  # another run may have built it meanwhile
                    self._build_template()
        except filelock.Timeout as exc:
            raise GuardError(f"another alembic-guard run has been building the cache in {self.path} for "
                             f"{BUILD_WAIT_S:.0f} s.", hint="Wait for it, or set ALEMBIC_GUARD_CACHE to another "
                             "directory.") from exc
        except OSError as exc:
            self._remove_created(created)
            if disk_problem(exc):
                raise CacheUnusable(self.path, _cause(exc)) from exc
            raise GuardError(f"could not build the PostgreSQL template in {self.path}: {exc}") from exc
        except BaseException:
            self._remove_created(created)
            raise
        return self.template

    def _build_template(self) -> None:
        """initdb in a work dir, marker last, rename into place. Caller holds the build lock."""
        for stale in self.path.glob("initdb-*"):  # work dirs of killed builds
            _rmtree(stale)
        if self.template.exists():  # incomplete or of another format: absent
            _rmtree(self.template)
        work = Path(tempfile.mkdtemp(prefix="initdb-", dir=self.path))
        stage = None
        try:
            privileges.hand_over(work)
            if privileges.running_as_root():  # mount points for what initdb (as nobody) cannot reach
                stage_parent = "/tmp" if os.path.isdir("/tmp") else tempfile.gettempdir()
                _sweep_stages(Path(stage_parent))
                # the pid in the name: a build killed with SIGKILL cannot remove its stage; the next sweeps it
                stage = Path(tempfile.mkdtemp(prefix=f"{STAGE_PREFIX}{os.getpid()}-", dir=stage_parent))
            conf = privileges.Confinement(stage or work, pdeathsig=signal.SIGKILL)
            argv = [str(conf.install(self.bindir) / "initdb"), "-D", str(conf.path(work) / "data"),
                    *INITDB_OPTIONS]
            _run_initdb(argv, self.bindir, self.path, conf)
            _write_marker(work / "data", self.bindir, build=uuid.uuid4().hex)
            (self.path / "bindir.txt").write_text(str(self.bindir.resolve()))
            os.rename(work / "data", self.template)
        finally:
            _rmtree(work)
            if stage is not None:
                _rmtree(stage)

    def discard_template(self, failed_build: str | None) -> None:
        """Throw the template away (under the build lock) unless it was already rebuilt by another run
        since it failed us (its build id differs from ``failed_build``)."""
        with _lock(self.path / "build.lock").acquire(timeout=BUILD_WAIT_S):
            marker = read_marker(self.template)
            if marker is None or marker.get("build") == failed_build:
                _rmtree(self.template)

    def warm_lock(self) -> filelock.FileLock | None:
        """The warm cluster's lock, acquired without waiting; None when another run holds it (or the
        home is temporary). The caller releases it when its server has stopped."""
        if self.temporary:
            return None
        lock = _lock(self.path / "warm.lock")
        try:
            lock.acquire(timeout=0)
        except filelock.Timeout:
            return None
        return lock

    def ensure_data(self) -> Path:
        """The warm cluster dir, copied from the template (into a work dir, marker last, renamed) when
        absent or invalid. Caller holds the warm lock. Raises CacheUnusable or GuardError."""
        for stale in self.path.glob("data-*"):  # copies a killed run left half done
            _rmtree(stale)
        if is_complete(self.data, self.bindir):
            return self.data
        self.discard_data()
        work = Path(tempfile.mkdtemp(prefix="data-", dir=self.path)) / "data"
        try:
            shutil.copytree(self.template, work, symlinks=True, ignore=shutil.ignore_patterns(MARKER))
            build = (read_marker(self.template) or {}).get("build", "")
            _write_marker(work, self.bindir, template_build=build)
            privileges.hand_over(work)
            os.rename(work, self.data)
        except (OSError, shutil.Error) as exc:
            if disk_problem(exc):
                raise CacheUnusable(self.path, _cause(exc)) from exc
            raise GuardError(f"could not copy the PostgreSQL template into {self.data}: {exc}") from exc
        finally:
            _rmtree(work.parent)
        return self.data

    def discard_data(self) -> None:
        """Remove the warm cluster dir (caller holds the warm lock); its databases go with it."""
        if self.data.exists() or self.data.is_symlink():
            _rmtree(self.data)


def _cause(exc: BaseException) -> str:
    if isinstance(exc, OSError) and not isinstance(exc, shutil.Error) and exc.strerror:
        return exc.strerror
    return next((t for t in _DISK_TEXTS if t in str(exc)), str(exc))


def _run_initdb(argv: list[str], bindir: Path, home: Path, conf: privileges.Confinement) -> None:
    """Run initdb (confined by ``conf``: as nobody when we are root); its failure on a full or read-only
    disk raises CacheUnusable, any other GuardError. initdb dies with us (SIGKILL via PDEATHSIG, set by
    ``conf``) so a killed run leaves no initdb writing into the cache."""
    env = {**os.environ, "LC_ALL": "C"}  # English messages: disk_problem() reads them
    try:
        r = subprocess.run(argv, capture_output=True, text=True, timeout=300, env=env, **conf.popen_kwargs())
    except (OSError, subprocess.SubprocessError) as exc:
        raise GuardError(f"initdb ({bindir}) failed: {exc}") from exc
    if r.returncode != 0:
        out = (r.stderr or r.stdout).strip()
        if disk_problem(out):
            raise CacheUnusable(home, _cause(Exception(out)))
        tail = out.splitlines()[-5:]
        raise GuardError(f"initdb ({bindir}) failed (exit {r.returncode}): {' '.join(tail)}")


def cached_bindirs() -> list[Path]:
    """Binary directories that have a complete cached template and still exist."""
    root = cache_root() / "clusters"
    found = []
    with contextlib.suppress(OSError):
        for home in sorted(root.iterdir()):
            with contextlib.suppress(OSError, ValueError):
                bindir = Path((home / "bindir.txt").read_text().strip())
                if (bindir / "postgres").exists() and is_complete(home / "template", bindir):
                    found.append(bindir)
    return found
