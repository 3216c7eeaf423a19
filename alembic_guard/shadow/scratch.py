"""Scratch databases inside a shadow server: created for one run, always dropped.

A run killed by SIGKILL drops nothing. In the cached cluster its ``ag_*`` databases are dropped when
the next run starts the cluster. A ``--shadow-url`` server is shared (other runs, other machines),
so there each scratch database carries an owner mark in its comment (``COMMENT ON DATABASE``):
host, boot id, pid and process start. ``sweep_abandoned`` drops the ones whose process is gone on
this machine (``WITH (FORCE)``: the dead run's backends may still be running its last statement),
and those of other machines older than ``ABANDONED_AFTER_S`` with a plain DROP, which PostgreSQL
refuses while anyone is connected.
"""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import socket
import time
from collections.abc import Iterator
from pathlib import Path

import psycopg
from psycopg import sql

from . import roles
from .server import ShadowServer


# a scratch database of another machine is taken as abandoned after this long (s): no check runs 12 hours
ABANDONED_AFTER_S = 12 * 3600
_MARK = "alembic-guard scratch"


def create_database(server: ShadowServer, template: str = "template0", prefix: str = "ag") -> str:
    """Create a database from ``template`` with this process's owner mark and return its name
    (``<prefix>_<random hex>``). From ``template0`` on alembic_guard's own cluster, the roles earlier
    runs' migrations made are parked first (shadow/roles.py). Raises psycopg.Error."""
    name = f"{prefix}_{secrets.token_hex(6)}"
    with psycopg.connect(server.conninfo(server.admin_db), autocommit=True) as conn:
        if template == "template0":  # an empty state has no role a migration made (shadow/roles.py)
            roles.arrange_on(server, conn, {})
        conn.execute(sql.SQL("CREATE DATABASE {} TEMPLATE {}").format(sql.Identifier(name), sql.Identifier(template)))
        mark(conn, name)
    return name


def mark(conn: psycopg.Connection, name: str) -> None:
    """Record this process as the owner of database ``name`` (its comment, a JSON object)."""
    owner = {"by": _MARK, "host": socket.gethostname(), "boot": _boot_id(), "pid": os.getpid(),
             "start": _process_start(os.getpid()), "created": int(time.time())}
    conn.execute(sql.SQL("COMMENT ON DATABASE {} IS {}").format(sql.Identifier(name), sql.Literal(json.dumps(owner))))


def sweep_abandoned(server: ShadowServer, now: float | None = None) -> list[str]:
    """Drop the ``ag_*`` databases of killed runs in ``server`` and return their names: marked by a
    process of this machine that no longer runs (its backends forced off), or created more than
    ``ABANDONED_AFTER_S`` ago and not in use. Unmarked ones (not ours, or made before marks existed)
    are left alone; a failed drop (in use, not the owner) is skipped. Raises psycopg.Error when the
    server cannot be reached."""
    now = time.time() if now is None else now
    dropped = []
    with psycopg.connect(server.conninfo(server.admin_db), autocommit=True, connect_timeout=10) as conn:
        rows = conn.execute("select datname, shobj_description(oid, 'pg_database') from pg_database "
                            "where datname like 'ag\\_%'").fetchall()
        for name, comment in rows:
            verdict = _abandoned(comment, now)
            if verdict is None:
                continue
            # a dead owner's backends may still run its last statement (the server notices the closed
            # socket only when it next writes to it): those are forced off; an old database of another
            # machine is dropped only when nobody is connected
            try:
                conn.execute(_drop(server, name, force=verdict == "owner gone"))
            except psycopg.Error:
                continue
            dropped.append(name)
    return dropped


def _abandoned(comment: str | None, now: float) -> str | None:
    """Why the database with this comment is abandoned ("owner gone", "old"), or None if it is not."""
    try:
        owner = json.loads(comment or "")
    except ValueError:
        return None
    if not isinstance(owner, dict) or owner.get("by") != _MARK:
        return None
    pid = owner.get("pid")
    here = owner.get("host") == socket.gethostname() and owner.get("boot") == _boot_id()
    if here and isinstance(pid, int) and _process_start(pid) != owner.get("start"):
        return "owner gone"
    if now - float(owner.get("created", now)) > ABANDONED_AFTER_S:
        return "old"
    return None


def _boot_id() -> str | None:
    """This kernel's boot id (Linux), so that a pid of an earlier boot is not taken for a live one."""
    try:
        return Path("/proc/sys/kernel/random/boot_id").read_text().strip()
    except OSError:
        return None


def _process_start(pid: int) -> int | None:
    """When process ``pid`` started (clock ticks since boot, /proc/<pid>/stat field 22), or None when
    it does not run; where /proc is missing, 0 for any live pid (a reused pid then looks alive)."""
    try:
        return int(Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[19])
    except FileNotFoundError:
        if Path("/proc/self/stat").exists():
            return None
        from .privileges import pid_alive

        return 0 if pid_alive(pid) else None
    except (OSError, ValueError, IndexError):
        return None


def drop_database(server: ShadowServer, name: str) -> None:
    """Drop ``name``, disconnecting anything still attached (PostgreSQL ≥ 13 ``WITH (FORCE)``)."""
    with psycopg.connect(server.conninfo(server.admin_db), autocommit=True) as conn:
        conn.execute(_drop(server, name, force=True))


def _drop(server: ShadowServer, name: str, *, force: bool) -> sql.Composed:
    """``DROP DATABASE IF EXISTS name``, ``WITH (FORCE)`` when asked and the server has it (13+)."""
    force = force and server.version_num >= 130000
    return sql.SQL("DROP DATABASE IF EXISTS {}").format(sql.Identifier(name)) + \
        (sql.SQL(" WITH (FORCE)") if force else sql.SQL(""))


@contextlib.contextmanager
def scratch_database(server: ShadowServer, template: str = "template0") -> Iterator[str]:
    """Yield the name of a fresh database in ``server``; it is dropped on exit, even on error."""
    name = create_database(server, template)
    try:
        yield name
    finally:
        with contextlib.suppress(psycopg.Error):
            drop_database(server, name)


class LazyScratch:
    """A scratch database created on the first call (``scratch()`` returns its name), for a run that
    may not need one: a warm incremental check runs in a clone of its template instead, and a
    CREATE DATABASE from template0 costs 20-300 ms (WAL_LOG strategy, PostgreSQL 15+)."""

    def __init__(self, server: ShadowServer):
        self.server = server
        self.name: str | None = None

    def __call__(self) -> str:
        if self.name is None:
            self.name = create_database(self.server)
        return self.name


@contextlib.contextmanager
def lazy_scratch_database(server: ShadowServer) -> Iterator[LazyScratch]:
    """Yield a LazyScratch of ``server``; the database, if it was created, is dropped on exit, even on error."""
    scratch = LazyScratch(server)
    try:
        yield scratch
    finally:
        if scratch.name is not None:
            with contextlib.suppress(psycopg.Error):
                drop_database(server, scratch.name)
