"""Send every SQLAlchemy connection the process opens to the shadow database.

The project's env.py runs unchanged: whatever URL it finds (``sqlalchemy.url``, an environment
variable, its own settings module), SQLAlchemy's ``do_connect`` event rewrites the driver's connect
arguments just before the DBAPI ``connect()`` call, so the user's real database is never contacted.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any

from sqlalchemy import event
from sqlalchemy.engine import Engine

from ..errors import GuardError
from ..shadow.server import ShadowServer

# Connect arguments that change behaviour but not the destination; everything else is dropped.
_KEEP = {"options", "server_settings", "application_name"}


def connect_params(server: ShadowServer, dbname: str, driver: str) -> dict[str, Any]:
    """Keyword arguments for ``driver``'s connect() that reach ``dbname`` on ``server``."""
    p = server.params(dbname)
    if driver == "asyncpg":
        p["database"] = p.pop("dbname")
    elif driver == "pg8000":
        p["database"] = p.pop("dbname")
        if p["host"].startswith("/"):
            p["unix_sock"] = f"{p.pop('host')}/.s.PGSQL.{p.pop('port')}"
    return p


@contextlib.contextmanager
def redirect_connections(server: ShadowServer, dbname: str) -> Iterator[None]:
    """While active, every Engine connects to ``dbname`` on the shadow server instead."""

    def do_connect(dialect, conn_rec, cargs, cparams):
        if dialect.name != "postgresql":
            raise GuardError(f"env.py connects with the {dialect.name} dialect; alembic-guard checks "
                             "PostgreSQL projects only.")
        keep = {k: v for k, v in cparams.items() if k in _KEEP}
        cargs.clear()
        cparams.clear()
        cparams.update(keep)
        cparams.update(connect_params(server, dbname, dialect.driver))

    event.listen(Engine, "do_connect", do_connect)
    try:
        yield
    finally:
        event.remove(Engine, "do_connect", do_connect)
