"""The migration connections of a guarded upgrade: their session settings, and what they wait for.

Every new DBAPI connection the project's env.py opens during ``alembic-guard upgrade`` gets
``SET lock_timeout`` / ``SET statement_timeout`` (session level: they hold for every statement of
the revision, in and out of ``autocommit_block()``), and its backend pid is noted so that a side
connection can ask ``pg_blocking_pids()`` who it waits for ("Lock Management" / "System Information
Functions" in the PostgreSQL docs). The side connection uses the migration connection's own
libpq parameters (psycopg 3 / psycopg2), so it reaches the same server whatever env.py did.
"""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import event
from sqlalchemy.pool import Pool

BLOCKERS_SQL = """
SELECT DISTINCT b.pid, coalesce(b.application_name, ''), coalesce(b.state, ''),
       coalesce((extract(epoch FROM clock_timestamp() - b.xact_start) * 1000)::bigint, 0),
       left(coalesce(b.query, ''), 200),
       CASE WHEN w.relation IS NOT NULL THEN w.relation::regclass::text END, w.mode
FROM pg_locks w
CROSS JOIN LATERAL unnest(pg_blocking_pids(w.pid)) AS bp(pid)
JOIN pg_stat_activity b ON b.pid = bp.pid
WHERE w.pid = %s AND NOT w.granted
"""


@dataclass(frozen=True)
class Blocker:
    """A session the migration waited for: ``xact_ms`` is the age of its transaction (ms)."""

    pid: int
    application: str
    state: str
    xact_ms: int
    query: str
    relation: str | None
    wanted_mode: str

    def describe(self) -> str:
        what = f"{self.wanted_mode} on {self.relation}" if self.relation else self.wanted_mode
        app = f" ({self.application})" if self.application else ""
        return (f"pid {self.pid}{app}, {self.state}, transaction open {self.xact_ms / 1000:.1f} s, "
                f"holding what {what} needs; its last query: {' '.join(self.query.split())}")


@dataclass
class Sessions:
    """Settings for new migration connections, and their backends (filled as env.py connects)."""

    lock_timeout_ms: int = 0
    statement_timeout_ms: int = 0
    backends: list[tuple[int, dict[str, Any]]] = field(default_factory=list)  # (pid, libpq params)

    def on_connect(self, dbapi_conn: Any, _record: Any) -> None:
        params = _libpq_params(dbapi_conn)
        if params is None:
            return  # not psycopg / psycopg2 (asyncpg): timeouts are left to env.py, no blocker view
        cur = dbapi_conn.cursor()
        try:
            cur.execute(f"SET lock_timeout = {int(self.lock_timeout_ms)}")
            cur.execute(f"SET statement_timeout = {int(self.statement_timeout_ms)}")
            cur.execute("SELECT pg_backend_pid()")
            pid = cur.fetchone()[0]
        finally:
            cur.close()
        dbapi_conn.commit()  # a SET inside the driver's implicit transaction would roll back with it
        self.backends.append((pid, params))


@contextlib.contextmanager
def configured(sessions: Sessions) -> Iterator[Sessions]:
    """Apply ``sessions`` to every DBAPI connection opened inside the block (any engine)."""
    event.listen(Pool, "connect", sessions.on_connect)
    try:
        yield sessions
    finally:
        event.remove(Pool, "connect", sessions.on_connect)


def _libpq_params(dbapi_conn: Any) -> dict[str, Any] | None:
    info = getattr(dbapi_conn, "info", None)
    if info is None:
        return None
    if hasattr(info, "get_parameters"):  # psycopg 3
        params = dict(info.get_parameters())
    elif hasattr(info, "dsn_parameters"):  # psycopg2
        params = dict(info.dsn_parameters)
    else:
        return None
    password = getattr(info, "password", None)
    if password:
        params["password"] = password
    params.pop("options", None)
    return params


class BlockerWatch:
    """While a revision runs, look every ``interval`` s at what its migration backend waits for."""

    def __init__(self, sessions: Sessions, interval: float = 0.05):
        self.sessions = sessions
        self.interval = interval
        self.seen: dict[int, Blocker] = {}
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def __enter__(self) -> BlockerWatch:
        self._thread = threading.Thread(target=self._run, name="alembic-guard-blockers", daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc: Any) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)

    def _run(self) -> None:
        import psycopg

        conn = None
        try:
            while not self._stop.is_set():
                if conn is None and self.sessions.backends:
                    params = dict(self.sessions.backends[-1][1])
                    conn = psycopg.connect(**params, autocommit=True, connect_timeout=5,
                                           application_name="alembic-guard blocker watch")
                if conn is not None:
                    for pid, _params in self.sessions.backends[-3:]:
                        for row in conn.execute(BLOCKERS_SQL, (pid,)).fetchall():
                            self.seen[row[0]] = Blocker(*row)
                self._stop.wait(self.interval)
        except Exception:  # the view is best effort: the upgrade never fails because of it
            return
        finally:
            if conn is not None:
                conn.close()


def wait_for(blockers: list[Blocker], sessions: Sessions, bound_s: float, report) -> bool:
    """Wait until every blocker's transaction has ended (its pid gone or its xact_start newer), at
    most ``bound_s`` seconds; ``report(text)`` is told once a second. True when they are gone."""
    import psycopg

    if not blockers or not sessions.backends:
        return True
    params = dict(sessions.backends[-1][1])
    deadline = time.monotonic() + bound_s
    pids = [b.pid for b in blockers]
    with psycopg.connect(**params, autocommit=True, connect_timeout=5) as conn:
        last = 0.0
        while True:
            alive = [r[0] for r in conn.execute(
                "SELECT pid FROM pg_stat_activity WHERE pid = ANY(%s) AND xact_start IS NOT NULL", (pids,))]
            if not alive:
                return True
            if time.monotonic() >= deadline:
                return False
            if time.monotonic() - last >= 1:
                report(f"waiting for blocking session(s) {', '.join(map(str, alive))} to finish "
                       f"({deadline - time.monotonic():.0f} s left)")
                last = time.monotonic()
            time.sleep(0.1)
