"""Start a throwaway PostgreSQL cluster from a directory of server binaries.

A cluster is created once per binary directory with ``initdb`` and kept as a data directory in the
cache (``$ALEMBIC_GUARD_CACHE``, else ``$XDG_CACHE_HOME/alembic-guard``, else
``~/.cache/alembic-guard``). A run that gets the cache's lock (``flock``) starts ``postgres`` on it in
place (warm start ~0.1 s; scratch databases a killed run left behind are dropped); a concurrent run
copies it into a private temp dir first (~0.1-1 s for 40 MB). Either way the server runs with
``fsync=off``, ``listen_addresses=''`` and a unix socket in a private temp dir. Stopping signals the
postmaster (SIGINT = fast shutdown, see "Shutting Down the Server" in the PostgreSQL docs), waits, and
removes both temp dirs. The postmaster also gets SIGINT if our process dies (``PR_SET_PDEATHSIG``).
"""

from __future__ import annotations

import contextlib
import ctypes
import hashlib
import os
import shutil
import signal
import subprocess
import tempfile
import time
from pathlib import Path

from ..errors import GuardError
from . import privileges
from .server import ShadowServer

SUPERUSER = "postgres"
START_TIMEOUT_S = 60.0


def cache_root() -> Path:
    env = os.environ.get("ALEMBIC_GUARD_CACHE")
    if env:
        return Path(env)
    xdg = os.environ.get("XDG_CACHE_HOME")
    return Path(xdg) / "alembic-guard" if xdg else Path.home() / ".cache" / "alembic-guard"


def server_version(bindir: Path) -> str:
    """``postgres --version`` output, e.g. ``postgres (PostgreSQL) 18.6``. Raises GuardError."""
    try:
        out = subprocess.run([str(bindir / "postgres"), "--version"], capture_output=True, text=True, timeout=30)
    except OSError as exc:
        raise GuardError(f"cannot run {bindir / 'postgres'}: {exc}") from exc
    return out.stdout.strip()


def major_version(bindir: Path) -> int:
    text = server_version(bindir).rsplit(" ", 1)[-1]
    digits = text.split(".")[0]
    return int("".join(ch for ch in digits if ch.isdigit()) or 0)


def _template_dir(bindir: Path) -> Path:
    key = hashlib.sha256(f"{bindir.resolve()}|{server_version(bindir)}".encode()).hexdigest()[:16]
    return cache_root() / "clusters" / key


def cached_template(bindir: Path) -> Path | None:
    """The pristine (never started) template data dir for ``bindir`` if cached and complete."""
    template = _template_dir(bindir) / "template"
    return template if (template / "PG_VERSION").exists() else None


def _set_pdeathsig() -> None:  # runs in the child between fork and exec
    with contextlib.suppress(Exception):
        libc = ctypes.CDLL("libc.so.6", use_errno=True)
        libc.prctl(1, signal.SIGINT)  # PR_SET_PDEATHSIG


def _run(argv: list[str], what: str) -> None:
    try:
        r = subprocess.run(argv, capture_output=True, text=True, timeout=300)
    except (OSError, subprocess.SubprocessError) as exc:
        raise GuardError(f"{what} failed: {exc}") from exc
    if r.returncode != 0:
        tail = (r.stderr or r.stdout).strip().splitlines()[-5:]
        raise GuardError(f"{what} failed (exit {r.returncode}): {' '.join(tail)}")


def ensure_template(bindir: Path) -> Path:
    """Create (once) and return the cached template data dir for ``bindir``. Raises GuardError."""
    existing = cached_template(bindir)
    if existing:
        return existing
    home = _template_dir(bindir)
    home.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix="initdb-", dir=home))
    try:
        privileges.hand_over(work)
        _run(privileges.command_prefix() + [
            str(bindir / "initdb"), "-D", str(work / "data"), "-U", SUPERUSER, "-A", "trust",
            "-E", "UTF8", "--locale=C", "--no-sync", "--no-instructions",
        ], f"initdb ({bindir})")
        (home / "bindir.txt").write_text(str(bindir.resolve()))
        try:
            os.rename(work / "data", home / "template")
        except OSError:
            if not cached_template(bindir):  # lost a race only if the winner is complete
                raise
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return home / "template"


def cached_bindirs() -> list[Path]:
    """Binary directories that have a complete cached template and still exist."""
    root = cache_root() / "clusters"
    found = []
    if root.is_dir():
        for home in sorted(root.iterdir()):
            txt = home / "bindir.txt"
            if txt.exists() and (home / "template" / "PG_VERSION").exists():
                bindir = Path(txt.read_text().strip())
                if (bindir / "postgres").exists():
                    found.append(bindir)
    return found


def start_cluster(bindir: Path, provider: str) -> ShadowServer:
    """Copy the template for ``bindir`` and start a private postgres on it.

    Returns a ShadowServer whose ``stop()`` shuts it down and removes its temp dirs.
    Raises GuardError (with the server log's tail) if it does not come up within 60 s.
    """
    template = ensure_template(bindir)
    run_dir = _socket_dir()
    proc: subprocess.Popen | None = None
    lock_fd = _try_lock(template.parent / "lock")
    try:
        if lock_fd is not None:  # ours alone: the warm cluster, created from the template once
            data = template.parent / "data"
            if not (data / "PG_VERSION").exists():
                shutil.rmtree(data, ignore_errors=True)
                shutil.copytree(template, data, symlinks=True)
                privileges.hand_over(data)
        else:  # another run uses the warm cluster: a private copy of the pristine template
            data = run_dir / "data"
            shutil.copytree(template, data, symlinks=True)
        os.chmod(data, 0o700)
        privileges.hand_over(run_dir)
        log = open(run_dir / "server.log", "wb")
        argv = privileges.command_prefix() + [
            str(bindir / "postgres"), "-D", str(data),
            "-c", "listen_addresses=", "-c", f"unix_socket_directories={run_dir}",
            "-c", "fsync=off", "-c", "synchronous_commit=off", "-c", "full_page_writes=off",
            "-c", "max_connections=100", "-c", "logging_collector=off",
            "-c", "max_locks_per_transaction=256",
        ]
        proc = subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                preexec_fn=_set_pdeathsig, start_new_session=True)
        log.close()
        _wait_ready(proc, run_dir)
        if lock_fd is not None:
            _drop_leftovers(run_dir)
    except (OSError, shutil.Error) as exc:
        _stop(proc, run_dir, lock_fd)
        raise GuardError(f"could not start the shadow PostgreSQL from {bindir}: {exc}") from exc
    except BaseException:
        _stop(proc, run_dir, lock_fd)
        raise
    version = server_version(bindir)
    server = ShadowServer(provider=provider, host=str(run_dir), port=5432, user=SUPERUSER,
                          description=f"{version} from {bindir}", pid=proc.pid)
    server._stop = lambda: _stop(proc, run_dir, lock_fd)
    return server


def _wait_ready(proc: subprocess.Popen, run_dir: Path) -> None:
    import psycopg

    deadline = time.monotonic() + START_TIMEOUT_S
    while True:
        if proc.poll() is not None:
            log = (run_dir / "server.log").read_text(errors="replace").strip().splitlines()[-5:]
            raise GuardError(f"the shadow PostgreSQL exited during start-up: {' '.join(log)}")
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
    """A private temp dir short enough for a unix socket path (107 bytes on Linux, 103 on macOS),
    with an ``owner`` file naming our pid so a later run can sweep it if we are killed (SIGKILL
    leaves no chance to clean up)."""
    run_dir = Path(tempfile.mkdtemp(prefix="alembic-guard-"))
    if len(str(run_dir)) + len("/.s.PGSQL.5432") > 100 and os.path.isdir("/tmp"):
        run_dir.rmdir()
        run_dir = Path(tempfile.mkdtemp(prefix="alembic-guard-", dir="/tmp"))
    _sweep_stale(run_dir.parent, keep=run_dir)
    (run_dir / "owner").write_text(str(os.getpid()))
    return run_dir


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _sweep_stale(parent: Path, keep: Path) -> None:
    """Remove run dirs of earlier runs whose process is gone, stopping a postmaster they orphaned."""
    for run_dir in parent.glob("alembic-guard-*"):
        try:
            if run_dir == keep or run_dir.stat().st_uid != os.geteuid():
                continue
            owner = run_dir / "owner"
            if owner.exists():
                if _pid_alive(int(owner.read_text().strip() or 0)):
                    continue
            elif time.time() - run_dir.stat().st_mtime < 600:  # no owner file yet: maybe starting
                continue
            pidfile = run_dir / "data" / "postmaster.pid"
            if pidfile.exists():
                postmaster = int(pidfile.read_text().split("\n", 1)[0] or 0)
                if postmaster and _pid_alive(postmaster):
                    os.kill(postmaster, signal.SIGINT)
                    continue  # it removes its files on shutdown; the next run sweeps the dir
            shutil.rmtree(run_dir, ignore_errors=True)
        except (OSError, ValueError):
            continue


def _try_lock(path: Path) -> int | None:
    """An exclusive, non-blocking flock on ``path``; None when another run holds it."""
    import fcntl

    fd = os.open(path, os.O_CREAT | os.O_RDWR, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        os.close(fd)
        return None
    return fd


def _drop_leftovers(run_dir: Path) -> None:
    """Drop scratch databases (``ag_*``) that a killed run left in the cached cluster."""
    import psycopg
    from psycopg import sql

    with psycopg.connect(host=str(run_dir), port=5432, user=SUPERUSER, dbname="postgres", autocommit=True) as conn:
        for (name,) in conn.execute("select datname from pg_database where datname like 'ag\\_%'").fetchall():
            with contextlib.suppress(psycopg.Error):
                conn.execute(sql.SQL("DROP DATABASE {} WITH (FORCE)").format(sql.Identifier(name)))


def _stop(proc: subprocess.Popen | None, run_dir: Path, lock_fd: int | None = None) -> None:
    """Fast shutdown, then immediate, then kill; always remove ``run_dir`` and release the cache lock."""
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
        shutil.rmtree(run_dir, ignore_errors=True)
        if lock_fd is not None:
            os.close(lock_fd)
