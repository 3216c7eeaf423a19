"""``alembic-guard upgrade``: the project's own ``alembic upgrade``, one revision at a time, against
the real database, with lock_timeout / statement_timeout per revision, retries on lock_not_available,
the blocking sessions named, and a gate on what ``check`` judged unsafe.

- plan.py: which revisions are pending (read from the database's version table through env.py) and
  the timeouts and retry budget of each (config, then the revision file's own ``alembic_guard = {...}``);
- sessions.py: the session settings every migration connection gets, and what its backend waits for
  (``pg_blocking_pids``) seen from a side connection;
- run.py: the loop (tenacity: exponential backoff with jitter), resuming at the first revision the
  database does not have, never re-running one that committed.
"""
