"""Start a throwaway PostgreSQL cluster from a directory of server binaries.

The data directories come from the cache (:mod:`.cache`: a pristine template per bin dir, built once
with ``initdb``, and a warm cluster). A run that gets the warm cluster's lock starts ``postgres`` on it
in place (warm start ~0.1 s; scratch databases a killed run left behind are dropped); a concurrent run
copies the template into a private temp dir first (~0.1-1 s for 40 MB). Either way the server runs with
``fsync=off``, ``listen_addresses=''`` and a unix socket in a private temp dir. Stopping signals the
postmaster (SIGINT = fast shutdown, see "Shutting Down the Server" in the PostgreSQL docs), waits, and
removes the temp dirs. The postmaster also gets SIGINT if our process dies (``PR_SET_PDEATHSIG``).

A cluster that does not start (postgres exits: a bad ``PG_VERSION``, missing files, a lock file or
shared memory still in use) is discarded: the warm cluster is recopied from the template and tried once
more, then the template itself is rebuilt once; only then is it an error. A stale ``postmaster.pid``
(its process gone) PostgreSQL handles itself ("Creating and Removing the Lock File", miscinit.c). When
the default cache directory cannot be written (read-only, full), the run uses a private temp dir and says
so on stderr; when ``$ALEMBIC_GUARD_CACHE`` names such a directory, it is an error (exit 2).
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import stat
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from ..errors import GuardError
from . import privileges
from .cache import (  # noqa: F401  (cache_root, cached_bindirs, server_version: the public names of old)
    SUPERUSER,
    CacheUnusable,
    Home,
    cache_root,
    cached_bindirs,
    read_marker,
    root_is_explicit,
    server_version,
)
from .server import ShadowServer

START_TIMEOUT_S = 60.0
#: How long a postmaster left by a killed run may take to shut down (it got SIGINT via PDEATHSIG).
ORPHAN_WAIT_S = 10.0


class StartFailed(GuardError):
    """postgres exited during start-up: the data directory is suspect."""


def major_version(bindir: Path) -> int:
    text = server_version(bindir).rsplit(" ", 1)[-1]
    digits = text.split(".")[0]
    return int("".join(ch for ch in digits if ch.isdigit()) or 0)


_noted = False


def _note_fallback(exc: CacheUnusable) -> None:
    """Say once per process that the cache is not used, and why."""
    global _noted
    if not _noted:
        _noted = True
        print(f"alembic-guard: note: {exc.message} This run uses a private temporary directory (slower: "
              f"initdb every run); set ALEMBIC_GUARD_CACHE to a writable directory to keep a cache.",
              file=sys.stderr)


def start_cluster(bindir: Path, provider: str) -> ShadowServer:
    """Start a private postgres from ``bindir`` on the cached warm cluster or a copy of the template.

    Returns a ShadowServer whose ``stop()`` shuts it down, removes its temp dirs and releases the warm
    cluster. Raises GuardError (one paragraph, with the server log's tail) when it cannot be started,
    CacheUnusable (a GuardError) when ``$ALEMBIC_GUARD_CACHE`` cannot be written; nothing is left running.
    """
    try:
        return _start(Home.for_bindir(bindir), bindir, provider)
    except CacheUnusable as exc:
        if root_is_explicit():
            raise GuardError(exc.message, hint="Point ALEMBIC_GUARD_CACHE at a writable directory with "
                             "~100 MB free, or unset it to use the default cache.") from exc
        _note_fallback(exc)
        first = exc
    try:
        return _start(None, bindir, provider)
    except CacheUnusable as exc:
        raise GuardError(f"neither the cache directory {first.dir} ({first.cause}) nor a temporary directory "
                         f"({exc.dir}: {exc.cause}) can hold a PostgreSQL cluster.",
                         hint="Free some disk space, or set ALEMBIC_GUARD_CACHE to a writable directory with "
                              "~100 MB free.") from exc


def _start(home: Home | None, bindir: Path, provider: str) -> ShadowServer:
    """``home`` None: a temporary home inside the run dir (removed with it), its template started in place."""
    run_dir = _socket_dir()
    proc: subprocess.Popen | None = None
    warm = None
    try:
        if home is None:
            home = Home(run_dir / "cache", bindir, temporary=True)
            data = home.ensure_template()
            proc = _launch(bindir, data, run_dir)
        else:
            home.ensure_template()  # first: it creates the home the warm lock lives in
            warm = home.warm_lock()
            proc, data = _start_cached(home, bindir, run_dir, warm is not None)
        if warm is not None:
            _drop_leftovers(run_dir)
    except (OSError, shutil.Error) as exc:
        _stop(proc, run_dir, warm)
        raise GuardError(f"could not start the shadow PostgreSQL from {bindir}: {exc}") from exc
    except BaseException:
        _stop(proc, run_dir, warm)
        raise
    version = server_version(bindir)
    server = ShadowServer(provider=provider, host=str(run_dir), port=5432, user=SUPERUSER,
                          description=f"{version} from {bindir}", pid=proc.pid, data_dir=str(data))
    server._stop = lambda: _stop(proc, run_dir, warm)
    return server


def _start_cached(home: Home, bindir: Path, run_dir: Path, warm: bool) -> tuple[subprocess.Popen, Path]:
    """Start on the warm cluster (``warm``: we hold its lock) or a private copy of the template; a
    cluster that fails to start is thrown away and rebuilt (see the module doc). Returns the
    postmaster and the data dir it runs on."""
    failure: StartFailed | None = None
    build: str | None = None  # the id of the template that failed us
    for rebuild_template in (False, True):
        if rebuild_template:
            home.discard_template(build)
            if warm:
                home.discard_data()
        template = home.ensure_template()
        build = (read_marker(template) or {}).get("build")
        attempts = (False, True) if warm and not rebuild_template else (True,)
        for fresh in attempts:
            try:
                if warm:
                    if fresh:
                        home.discard_data()
                    data = home.ensure_data()
                    _wait_for_orphan(data)
                else:
                    data = run_dir / "data"
                    shutil.rmtree(data, ignore_errors=True)
                    shutil.copytree(template, data, symlinks=True)
                return _launch(bindir, data, run_dir), data
            except StartFailed as exc:
                failure = exc
    assert failure is not None
    raise GuardError(f"{failure.message} (it failed on a fresh copy of a rebuilt template in {home.path}).",
                     hint=f"Check the server binaries in {bindir}, or remove {home.path}.")


def _wait_for_orphan(data: Path) -> None:
    """A run killed while its server ran leaves the postmaster shutting down (PDEATHSIG); let it finish
    rather than fail on its lock file."""
    deadline = time.monotonic() + ORPHAN_WAIT_S
    while time.monotonic() < deadline:
        try:
            pid = int((data / "postmaster.pid").read_text().split("\n", 1)[0] or 0)
        except (OSError, ValueError):
            return
        if not pid or not _pid_alive(pid):
            return
        time.sleep(0.05)


def _launch(bindir: Path, data: Path, run_dir: Path) -> subprocess.Popen:
    """Start postgres on ``data`` with its socket in ``run_dir``; return once it accepts connections.
    Raises StartFailed when it exits during start-up (it is then gone), GuardError on the 60 s timeout
    (the caller stops it)."""
    os.chmod(data, 0o700)
    if data.is_relative_to(run_dir):  # a copy of the template: the server must own it
        privileges.hand_over(data)
    conf = privileges.Confinement(run_dir, pdeathsig=signal.SIGINT)  # as root: nobody, in a mount namespace
    seen = conf.path(data)
    # a bound data dir: its real path still in the postmaster's command line, for ps and leftover checks
    named = ["-c", f"alembic_guard.data_directory={data}"] if seen != data else []
    argv = [
        str(conf.install(bindir) / "postgres"), "-D", str(seen), *named,
        "-c", "listen_addresses=", "-c", f"unix_socket_directories={run_dir}",
        "-c", "fsync=off", "-c", "synchronous_commit=off", "-c", "full_page_writes=off",
        "-c", "max_connections=100", "-c", "logging_collector=off",
        "-c", "max_locks_per_transaction=256",
    ]
    log = open(run_dir / "server.log", "wb")
    try:
        proc = subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                start_new_session=True, **conf.popen_kwargs())
    except subprocess.SubprocessError as exc:  # the child's set-up (namespace, uid drop) failed
        raise GuardError(f"could not start the shadow PostgreSQL from {bindir} as uid {privileges.UID}: {exc}",
                         hint="As root, alembic-guard needs to switch to uid 65534 (in a user namespace it "
                              "must be mapped); or run it as a non-root user.") from exc
    finally:
        log.close()
    try:
        _wait_ready(proc, run_dir)
    except StartFailed:
        raise
    except BaseException:
        _stop(proc, None)
        raise
    return proc


def _wait_ready(proc: subprocess.Popen, run_dir: Path) -> None:
    import psycopg

    deadline = time.monotonic() + START_TIMEOUT_S
    while True:
        if proc.poll() is not None:
            log = (run_dir / "server.log").read_text(errors="replace").strip().splitlines()[-5:]
            raise StartFailed(f"the shadow PostgreSQL exited during start-up: {' '.join(log)}")
        if (run_dir / ".s.PGSQL.5432").exists():
            try:
                psycopg.connect(host=str(run_dir), port=5432, user=SUPERUSER, dbname="postgres",
                                connect_timeout=2).close()
                return
            except psycopg.OperationalError:
                pass
        if time.monotonic() > deadline:
            raise GuardError("the shadow PostgreSQL did not accept connections within 60 s")
        time.sleep(0.01)


def _socket_dir() -> Path:
    """A private temp dir short enough for a unix socket path (107 bytes on Linux, 103 on macOS) and,
    as root, reachable by the server's uid (else in ``/tmp``), with an ``owner`` file naming our pid so
    a later run can sweep it if we are killed (SIGKILL leaves no chance to clean up)."""
    run_dir = Path(tempfile.mkdtemp(prefix="alembic-guard-"))
    too_long = len(str(run_dir)) + len("/.s.PGSQL.5432") > 100
    # as root the server (nobody) must reach it: a 0700 TMPDIR would close it, /tmp (1777) does not
    closed = privileges.running_as_root() and not privileges.reachable(run_dir.parent)
    if (too_long or closed) and os.path.isdir("/tmp"):
        run_dir.rmdir()
        run_dir = Path(tempfile.mkdtemp(prefix="alembic-guard-", dir="/tmp"))
    _sweep_stale(run_dir.parent, keep=run_dir)
    (run_dir / "owner").write_text(str(os.getpid()))
    # the server (nobody, as root) writes its socket and lock file here, initdb of a temporary home
    # below; the dir only, so our owner file and server.log stay ours and the sweep can trust them
    privileges.hand_over(run_dir, recursive=False)
    return run_dir


_pid_alive = privileges.pid_alive


def _ours(run_dir: Path, owner: Path) -> bool:
    """A run dir of ours: owned by us, or (as root) handed over to the server's uid but with an owner
    file we wrote (nobody could make a look-alike dir, never a root-owned file in it)."""
    st = run_dir.stat()
    if st.st_uid == os.geteuid():
        return True
    if not (privileges.running_as_root() and st.st_uid == privileges.UID):
        return False
    try:  # lstat: in a dir the server's uid owns, a symlink to some root-owned file proves nothing
        own = os.lstat(owner)
    except OSError:
        return False
    return stat.S_ISREG(own.st_mode) and own.st_uid == os.geteuid()


def _sweep_stale(parent: Path, keep: Path) -> None:
    """Remove run dirs of earlier runs whose process is gone, stopping a postmaster they orphaned."""
    for run_dir in parent.glob("alembic-guard-*"):
        try:
            owner = run_dir / "owner"
            if run_dir == keep or run_dir.is_symlink() or not _ours(run_dir, owner):
                continue
            if owner.exists():
                if _pid_alive(int(owner.read_text().strip() or 0)):
                    continue
            elif time.time() - run_dir.stat().st_mtime < 600:  # no owner file yet: maybe starting
                continue
            pidfile = run_dir / "data" / "postmaster.pid"
            if pidfile.exists():
                postmaster = int(pidfile.read_text().split("\n", 1)[0] or 0)
                # the pid file is the server's to write: signal only a process of the server's uid
                if postmaster and _pid_alive(postmaster) and privileges.server_owns(Path(f"/proc/{postmaster}")):
                    os.kill(postmaster, signal.SIGINT)
                    continue  # it removes its files on shutdown; the next run sweeps the dir
            shutil.rmtree(run_dir, ignore_errors=True)
        except (OSError, ValueError):
            continue


def _drop_leftovers(run_dir: Path) -> None:
    """Drop scratch databases (``ag_*``) that a killed run left in the cached cluster."""
    import psycopg
    from psycopg import sql

    with psycopg.connect(host=str(run_dir), port=5432, user=SUPERUSER, dbname="postgres", autocommit=True) as conn:
        for (name,) in conn.execute("select datname from pg_database where datname like 'ag\\_%'").fetchall():
            with contextlib.suppress(psycopg.Error):
                conn.execute(sql.SQL("DROP DATABASE {} WITH (FORCE)").format(sql.Identifier(name)))


def _stop(proc: subprocess.Popen | None, run_dir: Path | None, warm=None) -> None:
    """Fast shutdown, then immediate, then kill; always remove ``run_dir`` and release the warm
    cluster's lock (a ``filelock.FileLock``) — only once the postmaster is gone."""
    try:
        if proc is not None and proc.poll() is None:
            for sig, wait in ((signal.SIGINT, 10), (signal.SIGQUIT, 5), (signal.SIGKILL, 5)):
                with contextlib.suppress(ProcessLookupError):
                    os.kill(proc.pid, sig)
                try:
                    proc.wait(wait)
                    break
                except subprocess.TimeoutExpired:
                    continue
    finally:
        if run_dir is not None:
            shutil.rmtree(run_dir, ignore_errors=True)
        if warm is not None:
            warm.release()
