"""A statement on the shadow that waits on a lock another connection of the same run holds.

Nothing but the run itself connects to its shadow database, so a lock wait there is one of the run's
connections waiting on another's transaction, which will not end while the first waits: a
multi-database env.py (Alembic's ``multidb`` template opens one transaction per engine and runs
them in turn; every engine is redirected to the one shadow database, where the second engine's
``CREATE TABLE alembic_version`` waits on the first's), or a revision that opens a second
connection and waits on its own migration's transaction (it would hang in production too). Without
a watchdog such a run waits forever.

:class:`LockWaitWatchdog` runs beside the revisions (a thread with its own connection, opened only
once the run has lasted ``START_AFTER_S``): a backend of the run's database that has been waiting
on a heavyweight lock (``pg_stat_activity.wait_event_type = 'Lock'``) for ``LIMIT_S``, held by
another client backend of the same database (``pg_blocking_pids``), is cancelled
(``pg_cancel_backend``: its statement fails with SQLSTATE 57014) and recorded, so that the runner
reports why instead of PostgreSQL's "canceling statement due to user request".
"""

from __future__ import annotations

import contextlib
import threading
import time
from dataclasses import dataclass

import psycopg

from ..shadow.server import ShadowServer

START_AFTER_S = 2.0  # a shorter run never opens the watchdog's connection
LIMIT_S = 10.0  # how long a self-inflicted wait is let run before it is cancelled (s)
POLL_S = 0.5

_WAITING_SQL = """
select a.pid, a.query, a.query_start, pg_catalog.pg_blocking_pids(a.pid)
from pg_catalog.pg_stat_activity a
where a.datname = pg_catalog.current_database() and a.wait_event_type = 'Lock' and a.pid <> pg_catalog.pg_backend_pid()
  and exists (select from pg_catalog.pg_stat_activity b
              where b.pid = any(pg_catalog.pg_blocking_pids(a.pid)) and b.datname = a.datname
                and b.backend_type = 'client backend')
"""


@dataclass
class Cancelled:
    """A statement the watchdog cancelled: its text (as pg_stat_activity showed it), how long it had
    waited (s), and the pids of the backends it waited on."""

    query: str
    waited_s: float
    blockers: list[int]


class LockWaitWatchdog:
    """Use as a context manager around a run on ``dbname``; ``cancelled`` lists what it cancelled."""

    def __init__(self, server: ShadowServer, dbname: str, limit_s: float | None = None,
                 start_after_s: float | None = None):
        self.server, self.dbname = server, dbname
        self.limit_s = LIMIT_S if limit_s is None else limit_s
        self.start_after_s = START_AFTER_S if start_after_s is None else start_after_s
        self.cancelled: list[Cancelled] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._watch, name="alembic-guard lock-wait watchdog", daemon=True)

    def __enter__(self) -> LockWaitWatchdog:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(timeout=5)

    def _watch(self) -> None:
        if self._stop.wait(self.start_after_s):
            return
        try:
            conn = psycopg.connect(self.server.conninfo(self.dbname), autocommit=True, connect_timeout=10)
        except psycopg.Error:
            return  # the run reports a server that is gone; the watchdog only ends waits
        first_seen: dict[tuple[int, object], float] = {}
        with contextlib.closing(conn):
            while not self._stop.wait(POLL_S):
                try:
                    rows = conn.execute(_WAITING_SQL).fetchall()
                except psycopg.Error:
                    return
                now = time.monotonic()
                waiting = {(pid, started): (query, blockers) for pid, query, started, blockers in rows}
                first_seen = {key: first_seen.get(key, now) for key in waiting}
                for key, (query, blockers) in waiting.items():
                    if now - first_seen[key] >= self.limit_s:
                        with contextlib.suppress(psycopg.Error):
                            conn.execute("select pg_catalog.pg_cancel_backend(%s)", (key[0],))
                        self.cancelled.append(Cancelled(query or "", now - first_seen[key], list(blockers or [])))
                        first_seen.pop(key, None)

    def explain(self) -> str | None:
        """Why the run's statement failed, when the watchdog cancelled one; else None."""
        if not self.cancelled:
            return None
        c = self.cancelled[-1]
        return (f"the statement `{' '.join(c.query.split())[:120]}` waited {c.waited_s:.0f} s on a lock that another "
                "connection of the same migration run held (backend "
                f"{', '.join(map(str, c.blockers))}), and was cancelled: the run's connections wait on each other. "
                "A revision that opens a second connection waits on its own migration's transaction (in "
                "production too: it would hang); a multi-database env.py (Alembic's multidb template) is "
                "sent to one shadow database, where its engines wait on each other")
