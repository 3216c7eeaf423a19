"""A running PostgreSQL server that alembic_guard may write to (never the user's database)."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
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
    # its data directory as this process sees it (when alembic_guard started it locally); the server's
    # own ``data_directory`` may name a bind mount of it (see shadow/privileges.py)
    data_dir: str | None = None
    # further libpq keywords of a user-given target (sslmode, passfile, options, ...), passed through
    extra: dict[str, str] = field(default_factory=dict)
    _stop: Callable[[], None] | None = field(default=None, repr=False)

    def params(self, dbname: str) -> dict[str, Any]:
        """libpq keyword parameters (host, port, user, password, dbname) for ``dbname``."""
        p: dict[str, Any] = {**self.extra, "host": self.host, "port": self.port, "user": self.user, "dbname": dbname}
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
        extra = "".join(f"&{quote(k, safe='')}={quote(v, safe='')}" for k, v in self.extra.items())
        if self.host.startswith("/"):
            return (f"postgresql+{driver}://{auth}@/{dbname}?host={quote(self.host, safe='/')}&port={self.port}"
                    f"{extra}")
        url = f"postgresql+{driver}://{auth}@{self.host}:{self.port}/{dbname}"
        return url + ("?" + extra[1:] if extra else "")

    def alive(self) -> bool:
        """Whether the server still accepts connections: its postmaster (when we started it) is a
        live process, and a connection to the admin database succeeds within 5 s."""
        import psycopg

        if self.pid is not None and not _process_alive(self.pid):
            return False
        try:
            psycopg.connect(self.conninfo(self.admin_db), connect_timeout=5).close()
        except psycopg.OperationalError:
            return False
        return True

    def log_tail(self, lines: int = 3) -> str:
        """The last ``lines`` lines of the server log of a local cluster (``<socket dir>/server.log``),
        joined by spaces; "" when there is none (a URL or Docker server)."""
        log = Path(self.host) / "server.log" if self.host.startswith("/") else None
        try:
            text = log.read_text(errors="replace") if log is not None else ""
        except OSError:
            return ""
        return " ".join(line.strip() for line in text.strip().splitlines()[-lines:])

    def stop(self) -> None:
        """Stop the server if alembic_guard started it; a no-op for a user-given URL."""
        stop, self._stop = self._stop, None
        if stop is not None:
            stop()

    def __enter__(self) -> ShadowServer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def _process_alive(pid: int) -> bool:
    """Whether ``pid`` runs (not a zombie waiting for its parent: /proc/<pid>/stat state Z or X)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # someone else's process: it exists
        return True
    try:
        with open(f"/proc/{pid}/stat") as fh:
            state = fh.read().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return True
    return state not in ("Z", "X")
