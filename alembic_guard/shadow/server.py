"""A running PostgreSQL server that alembic_guard may write to (never the user's database)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any
from collections.abc import Callable
from urllib.parse import quote


@dataclass
class ShadowServer:
    """Connection facts for a shadow server.

    ``host`` is a hostname or, for a local cluster, the directory of its unix socket.
    ``provider`` names the provider that served it (``url``, ``cluster``, ``local``, ``docker``,
    ``embedded``); ``version_num`` is ``server_version_num`` (e.g. 180006).
    """

    provider: str
    host: str
    port: int
    user: str
    password: str | None = None
    admin_db: str = "postgres"
    version: str = ""
    version_num: int = 0
    description: str = ""
    pid: int | None = None  # the postmaster's pid when alembic_guard started it locally
    _stop: Callable[[], None] | None = field(default=None, repr=False)

    def params(self, dbname: str) -> dict[str, Any]:
        """libpq keyword parameters (host, port, user, password, dbname) for ``dbname``."""
        p: dict[str, Any] = {"host": self.host, "port": self.port, "user": self.user, "dbname": dbname}
        if self.password:
            p["password"] = self.password
        return p

    def conninfo(self, dbname: str) -> str:
        """A libpq conninfo string for psycopg."""
        from psycopg.conninfo import make_conninfo

        return make_conninfo(**self.params(dbname))

    def sqlalchemy_url(self, dbname: str, driver: str | None = None) -> str:
        """A SQLAlchemy URL for ``dbname`` (socket directories go in the ``host`` query). The driver
        defaults to psycopg 3 (SQLAlchemy 2), or psycopg2 under SQLAlchemy 1.4, which has no psycopg 3
        dialect."""
        if driver is None:
            import sqlalchemy

            driver = "psycopg" if int(sqlalchemy.__version__.split(".")[0]) >= 2 else "psycopg2"
        auth = quote(self.user, safe="")
        if self.password:
            auth += ":" + quote(self.password, safe="")
        if self.host.startswith("/"):
            return f"postgresql+{driver}://{auth}@/{dbname}?host={quote(self.host, safe='/')}&port={self.port}"
        return f"postgresql+{driver}://{auth}@{self.host}:{self.port}/{dbname}"

    def stop(self) -> None:
        """Stop the server if alembic_guard started it; a no-op for a user-given URL."""
        stop, self._stop = self._stop, None
        if stop is not None:
            stop()

    def __enter__(self) -> ShadowServer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()
