"""Scratch databases inside a shadow server: created for one run, always dropped."""

from __future__ import annotations

import contextlib
import secrets
from collections.abc import Iterator

import psycopg
from psycopg import sql

from .server import ShadowServer


def create_database(server: ShadowServer, template: str = "template0", prefix: str = "ag") -> str:
    """Create an empty database and return its name (``<prefix>_<random hex>``)."""
    name = f"{prefix}_{secrets.token_hex(6)}"
    with psycopg.connect(server.conninfo(server.admin_db), autocommit=True) as conn:
        conn.execute(sql.SQL("CREATE DATABASE {} TEMPLATE {}").format(sql.Identifier(name), sql.Identifier(template)))
    return name


def drop_database(server: ShadowServer, name: str) -> None:
    """Drop ``name``, disconnecting anything still attached (PostgreSQL ≥ 13 ``WITH (FORCE)``)."""
    with psycopg.connect(server.conninfo(server.admin_db), autocommit=True) as conn:
        force = sql.SQL(" WITH (FORCE)") if server.version_num >= 130000 else sql.SQL("")
        conn.execute(sql.SQL("DROP DATABASE IF EXISTS {}").format(sql.Identifier(name)) + force)


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
