"""Template databases of the incremental cache, inside the (persistent) shadow server.

A template is named ``agtpl_<first 40 hex of its key>``: not ``ag_…``, which the warm cluster drops
at start-up as a killed run's scratch database. A database cannot be a template while anyone is
connected to it, nor be renamed ("CREATE DATABASE", "ALTER DATABASE" in the PostgreSQL docs), so
backends still attached to a run's database are terminated first (``pg_terminate_backend``).
"""

from __future__ import annotations

import secrets
import time

import psycopg
from psycopg import sql

from ..shadow import roles
from ..shadow.scratch import mark
from ..shadow.server import ShadowServer

PREFIX = "agtpl_"


def template_name(key: str) -> str:
    """The database name of the template for ``key`` (46 bytes, under PostgreSQL's 63)."""
    return PREFIX + key[:40]


def _admin(server: ShadowServer) -> psycopg.Connection:
    return psycopg.connect(server.conninfo(server.admin_db), autocommit=True, connect_timeout=10)


def existing(server: ShadowServer) -> set[str]:
    """Names of the template databases present in ``server``."""
    with _admin(server) as conn:
        rows = conn.execute("select datname from pg_database where datname like %s", (PREFIX + "%",)).fetchall()
    return {r[0] for r in rows}


def clone(server: ShadowServer, template: str, needed: dict[str, int] | None = None) -> str:
    """``CREATE DATABASE ag_<hex> TEMPLATE template`` and return the new name (an ``ag_`` scratch
    name, so a killed run's clone is dropped like any scratch database). ``needed``: the roles
    (name → oid) the template's state has, given back their names, every other one parked
    (shadow/roles.py). Raises psycopg.Error."""
    name = f"ag_{secrets.token_hex(6)}"
    with _admin(server) as conn:
        roles.arrange_on(server, conn, needed or {})
        conn.execute(sql.SQL("CREATE DATABASE {} TEMPLATE {}").format(sql.Identifier(name), sql.Identifier(template)))
        mark(conn, name)
    return name


def _disconnect(conn: psycopg.Connection, name: str) -> None:
    for _ in range(50):  # a terminated backend leaves pg_stat_activity within milliseconds
        rows = conn.execute("select pg_terminate_backend(pid) from pg_stat_activity "
                            "where datname = %s and pid <> pg_backend_pid()", (name,)).fetchall()
        if not rows:
            return
        time.sleep(0.01)


def keep(server: ShadowServer, dbname: str, key: str) -> str:
    """Turn the run's database ``dbname`` into the template for ``key`` (a rename: no copy) and return
    its new name; an older template of the same key is replaced. Raises psycopg.Error."""
    name = template_name(key)
    with _admin(server) as conn:
        _disconnect(conn, dbname)
        conn.execute(sql.SQL("DROP DATABASE IF EXISTS {}").format(sql.Identifier(name)))
        conn.execute(sql.SQL("ALTER DATABASE {} RENAME TO {}").format(sql.Identifier(dbname), sql.Identifier(name)))
    return name


def drop(server: ShadowServer, names: set[str] | list[str]) -> None:
    """Drop these template databases (missing ones are fine). Raises psycopg.Error."""
    if not names:
        return
    with _admin(server) as conn:
        for name in names:
            _disconnect(conn, name)
            conn.execute(sql.SQL("DROP DATABASE IF EXISTS {}").format(sql.Identifier(name)))


def prune_roles(server: ShadowServer, keep: set[int]) -> None:
    """Drop the parked roles no template in ``keep`` (oids) needs (shadow/roles.py). Raises psycopg.Error."""
    with _admin(server) as conn:
        roles.prune(conn, keep)


def missing_roles(server: ShadowServer, needed: dict[str, int]) -> list[str]:
    """The names of ``needed`` (name → oid) whose role is gone from the server (all of them when
    the server cannot be asked: such a template is not started from)."""
    if not needed:
        return []
    try:
        with _admin(server) as conn:
            return roles.missing(conn, needed)
    except psycopg.Error:
        return sorted(needed)
