"""Run PostgreSQL binaries (postgres, initdb) as a real unprivileged user when we are root.

PostgreSQL refuses to start as root, and a shadow that could write where root can would let a
migration's ``COPY ... TO '/root/dir/x'`` or ``pg_read_file('/etc/shadow')`` succeed on the shadow when it
fails on any managed database. So as root the server runs as ``nobody`` (uid/gid 65534, no supplementary
groups): its real uid outside any namespace, so the kernel denies it every file root did not open to all.

That uid must still reach three things root owns: the server binaries (the wheels live under
``/root/.pyenv``, mode 0700), the data directory (the cache home under ``/root/.cache`` or wherever
``$ALEMBIC_GUARD_CACHE`` points, e.g. pytest's 0700 ``/tmp/pytest-of-root``) and the socket directory.
Rather than chmod the user's directories (never) or copy installs around (only the fallback below
does), the child process, between fork and exec (:class:`Confinement`):

1. enters a private mount namespace (``unshare(CLONE_NEWNS)``, propagation private: nothing leaks back
   to the host's mount table, and the mounts vanish with the postmaster);
2. bind-mounts each directory the server needs but ``nobody`` cannot reach (the install root, the data
   or initdb work dir) onto an empty mount point in a stage directory it can reach (the run dir in
   ``/tmp``); the bind makes only that subtree visible, not its parents;
3. drops to 65534 (setgroups([]), setresgid, setresuid): after that it has no capability, in the
   namespace or outside, so only the bound subtrees (owned by it: the data dir we chown) and
   world-readable files are open to it;
4. sets ``PR_SET_PDEATHSIG`` last (the kernel clears it when the uid changes).

Directories we create for the server (run dir, initdb work dir, the warm cluster) are chowned to 65534
(:func:`hand_over`); the template stays as initdb left it (65534) and a copy is chowned again.

This needs ``CAP_SYS_ADMIN`` (root on a VM or a privileged container; checked once per process). When
it is missing (a default Docker container), the uid is still dropped: binaries ``nobody`` cannot reach
are mirrored once into the cache dir (:mod:`.mirror`: hard links, else copies), whose default moves
to the root-owned site cache dir (:func:`.cache.cache_root`), and a data dir it still cannot reach (a
``$ALEMBIC_GUARD_CACHE`` under a 0700 parent) is an error naming it and the way out, never a fallback
to a root-equivalent server. When we are not root nothing changes: the server runs as us.

The older route, ``unshare --user --map-user=1000``, is gone: that uid 1000 is root outside the
namespace, so it owned every root-owned file.
"""

from __future__ import annotations

import ctypes
import functools
import os
import signal
import stat
import subprocess
import tempfile
from pathlib import Path

from ..errors import GuardError

#: The unprivileged uid and gid the server runs as when we are root (``nobody``/``nogroup`` on Debian,
#: the overflow id of the kernel; no account is created, no passwd entry is needed).
UID = GID = 65534

CLONE_NEWNS = 0x00020000
MS_BIND, MS_REC, MS_PRIVATE = 4096, 16384, 1 << 18


def running_as_root() -> bool:
    return hasattr(os, "geteuid") and os.geteuid() == 0


def server_owns(path: Path) -> bool:
    """Whether ``path`` belongs to the uid the server runs as (65534 as root, else us): a file the
    server may have written, so its content is not to be trusted for signals."""
    try:
        return os.stat(path).st_uid == (UID if running_as_root() else os.geteuid())
    except OSError:
        return False


def pid_alive(pid: int) -> bool:
    """Whether process ``pid`` exists (one of another uid counts: signal 0 is refused, not missed)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def needs_chown() -> bool:
    """True when the server runs under another uid than ours and the dirs we create must be handed over."""
    return running_as_root()


def hand_over(path: Path, recursive: bool = True) -> None:
    """Give a directory we created (and everything in it, unless not ``recursive``) to the server's uid;
    nothing when not root."""
    if needs_chown() and not recursive:
        os.chown(path, UID, GID)
    elif needs_chown():
        # bottom-up and never through a symlink: a dir is handed over only after everything in it,
        # so the server's uid cannot swap a subdir for a link to a root-owned place mid-walk
        for root, dirs, files in os.walk(path, topdown=False):
            for name in files + dirs:
                os.chown(os.path.join(root, name), UID, GID, follow_symlinks=False)
        os.chown(path, UID, GID, follow_symlinks=False)


def reachable(path: Path) -> bool:
    """Whether uid/gid 65534 (no supplementary groups) can search every directory down to ``path``
    (inclusive), by the mode bits of each (ACLs and LSMs are not read: a miss shows up as the server's
    own "permission denied" at start, never as a wider access)."""
    real = Path(os.path.realpath(path))
    for d in [*reversed(real.parents), real]:
        try:
            st = os.stat(d)
        except OSError:
            return False
        if st.st_uid == UID:
            bit = stat.S_IXUSR
        elif st.st_gid == GID:
            bit = stat.S_IXGRP
        else:
            bit = stat.S_IXOTH
        if not st.st_mode & bit:
            return False
    return True


@functools.cache
def _libc():
    """libc with the two prototypes we call, loaded in the parent: dlopen after fork can deadlock."""
    libc = ctypes.CDLL(None, use_errno=True)
    libc.unshare.argtypes = [ctypes.c_int]
    libc.mount.argtypes = [ctypes.c_char_p, ctypes.c_char_p, ctypes.c_char_p, ctypes.c_ulong, ctypes.c_void_p]
    return libc


def _check(rc: int, what: str) -> None:
    if rc != 0:
        err = ctypes.get_errno()
        raise OSError(err, f"{what}: {os.strerror(err)}")


def _enter(binds: tuple[tuple[bytes, bytes], ...], pdeathsig: int | None) -> None:
    """In the child between fork and exec: private mount namespace, bind mounts, drop to 65534,
    parent-death signal. Any failure raises, and subprocess then raises in the parent."""
    libc = _libc()
    _check(libc.unshare(CLONE_NEWNS), "unshare(CLONE_NEWNS)")
    _check(libc.mount(None, b"/", None, MS_REC | MS_PRIVATE, None), "mount --make-rprivate /")
    for source, target in binds:
        _check(libc.mount(source, target, None, MS_BIND | MS_REC, None), f"mount --bind {source!r} {target!r}")
    _drop(pdeathsig)


def _drop(pdeathsig: int | None) -> None:
    os.setgroups([])
    os.setresgid(GID, GID, GID)
    os.setresuid(UID, UID, UID)
    if pdeathsig is not None:
        _libc().prctl(1, pdeathsig)  # PR_SET_PDEATHSIG, after the uid change that would clear it


def _pdeath_only(pdeathsig: int | None) -> None:
    if pdeathsig is not None:
        try:
            _libc().prctl(1, pdeathsig)
        except Exception:  # noqa: BLE001  (no libc prctl: not Linux; the signal is a nicety)
            pass


@functools.cache
def library_dirs(bindir: Path) -> tuple[Path, ...]:
    """The directories of the shared libraries ``postgres`` and ``initdb`` in ``bindir`` load (as the
    dynamic loader resolves them, system ones included), resolved; empty when that fails (the server
    then fails to start with the loader's own message, never runs wider).

    ``LD_TRACE_LOADED_OBJECTS=1`` is what ``ldd`` sets: glibc's loader lists the libraries and exits
    before ``main`` (~4 ms a binary, ``ldd``'s shell script ~20 ms); a loader that ignores it runs the
    program with ``--version``, which prints one line."""
    found: list[Path] = []
    env = {**os.environ, "LD_TRACE_LOADED_OBJECTS": "1"}
    for program in ("postgres", "initdb"):
        try:
            out = subprocess.run([str(bindir / program), "--version"], capture_output=True, text=True,
                                 timeout=30, env=env).stdout
        except (OSError, subprocess.SubprocessError):
            continue
        for line in out.splitlines():
            _name, arrow, rest = line.partition("=>")
            lib = rest.strip().split(" (", 1)[0] if arrow else ""
            if lib.startswith("/"):
                d = Path(os.path.realpath(lib)).parent
                if d not in found:
                    found.append(d)
    return tuple(found)


@functools.cache
def mount_namespace_works() -> bool:
    """Whether we may make a private mount namespace (root with CAP_SYS_ADMIN); probed once per process
    by starting ``true`` the way the server is started."""
    if not running_as_root():
        return False
    try:
        _libc()
        r = subprocess.run(["true"], preexec_fn=lambda: _enter((), None), capture_output=True, timeout=10)
    except (OSError, subprocess.SubprocessError, AttributeError):
        return False
    return r.returncode == 0


class Confinement:
    """How one server or initdb process is started: as 65534 when we are root, with the directories it
    cannot reach bound under ``stage`` (an existing directory it can reach, which we own and remove).

    Usage: translate every path the process is given with :meth:`install` / :meth:`path`, then start it
    with ``subprocess.Popen(argv, **conf.popen_kwargs())``.
    """

    def __init__(self, stage: Path, pdeathsig: int | None = signal.SIGINT):
        self.stage = stage
        self.pdeathsig = pdeathsig
        self._binds: list[tuple[Path, Path]] = []

    def install(self, bindir: Path) -> Path:
        """The bin dir as the server sees it: ``bindir`` itself when the server can reach it and its
        libraries, else the same layout under ``<stage>/pg-XXXX/``: the install root (``bindir``'s parent:
        the server finds lib/ and share/ relative to its binary) and the library dirs outside it (a
        wheel's ``<package>.libs``, found through ``$ORIGIN/../../../``) bound at their relative places;
        without a mount namespace, a mirror (:mod:`.mirror`). Raises GuardError."""
        if not running_as_root():
            return bindir
        real = bindir.resolve()
        if reachable(real):  # (a library dir it cannot reach shows as the loader's error at start)
            return bindir
        needed = [real.parent, *(d for d in library_dirs(real)
                                 if not d.is_relative_to(real.parent) and not reachable(d))]
        if not mount_namespace_works():  # nothing can be bound: a copy it can reach, made once
            from .mirror import mirrored_bindir

            return mirrored_bindir(real, needed, reachable)
        common = Path(os.path.commonpath(needed))
        base = self._bind(None, "pg")
        for d in needed:
            target = base / d.relative_to(common)
            target.mkdir(parents=True, exist_ok=True, mode=0o755)
            self._binds.append((d, target))
        return base / real.relative_to(common)

    def path(self, directory: Path) -> Path:
        """A directory (data dir, initdb work dir) as the server sees it: itself when reachable, else
        ``<stage>/dir-XXXX`` with it bound there."""
        if not running_as_root() or reachable(directory):
            return directory
        return self._bind(directory, "dir")

    def _bind(self, source: Path | None, kind: str) -> Path:
        """A new mount point ``<stage>/<kind>-XXXX`` with ``source`` bound there (None: the caller binds
        below it). Raises GuardError when no mount namespace can be made."""
        if not mount_namespace_works():
            raise GuardError(
                f"the shadow PostgreSQL runs as uid {UID} (alembic-guard runs as root and never gives the "
                f"server root's access), and that uid cannot reach {source}: a parent directory is closed to "
                f"it, and this machine does not allow a private mount namespace (CAP_SYS_ADMIN) to bind it "
                f"elsewhere.",
                hint="Set ALEMBIC_GUARD_CACHE to a directory whose parents are searchable by all (e.g. "
                     "/var/cache/alembic-guard), install the server binaries outside /root (e.g. the "
                     "distribution's postgresql package), or run alembic-guard as a non-root user.")
        target = Path(tempfile.mkdtemp(prefix=f"{kind}-", dir=self.stage))  # unique: a retry reuses the stage
        target.chmod(0o755)
        if source is not None:
            self._binds.append((source, target))
        return target

    def popen_kwargs(self) -> dict:
        """``preexec_fn`` (and nothing else) for subprocess.Popen / run."""
        if not running_as_root():
            sig = self.pdeathsig
            return {"preexec_fn": lambda: _pdeath_only(sig)}
        if self._binds:
            os.chown(self.stage, UID, GID)
            binds = tuple((os.fsencode(s), os.fsencode(t)) for s, t in self._binds)
            sig = self.pdeathsig
            return {"preexec_fn": lambda: _enter(binds, sig)}
        _libc()
        sig = self.pdeathsig
        return {"preexec_fn": lambda: _drop(sig)}
