"""Catalog snapshots taken on the *migration* connection.

They must run on that connection: a table rewrite gives the relation a new ``pg_class.relfilenode``
and relations created in the open transaction exist only there (MVCC hides both from any other
session). ``pg_stat_xact_user_tables`` likewise counts the scans of the current transaction only
("The Cumulative Statistics System" in the PostgreSQL docs).
"""

from __future__ import annotations

import contextlib

from typing import Any

import psycopg

from ..model import Relation

# The statistics are read with the functions pg_stat_xact_user_tables is built on
# (pg_stat_get_xact_numscans, _tuples_updated, _tuples_deleted; "Statistics Functions" in the
# PostgreSQL docs), for tables, materialized views and partitioned tables as the view does: the same
# values, without the view's per-table aggregate over its indexes (which made the snapshot ~3x slower).
# The fragments are shared with trace/snapshots.py, whose incremental reads must give the same rows.
TABLE_KINDS = "c.relkind in ('r', 'p', 'm')"
SEQ_SCANS = f"case when {TABLE_KINDS} then pg_catalog.pg_stat_get_xact_numscans(c.oid) else 0 end"
ROWS_MODIFIED = (f"case when {TABLE_KINDS} then pg_catalog.pg_stat_get_xact_tuples_updated(c.oid)"
                 " + pg_catalog.pg_stat_get_xact_tuples_deleted(c.oid) else 0 end")
USER_RELATIONS_FROM = """
from pg_catalog.pg_class c
join pg_catalog.pg_namespace n on n.oid = c.relnamespace
left join pg_catalog.pg_index i on i.indexrelid = c.oid
where c.relkind in ('r', 'p', 'i', 'I', 'm', 'S')
  and n.nspname <> 'information_schema' and n.nspname not like 'pg\\_%'"""
SNAPSHOT_SQL = f"""
select c.oid::bigint, n.nspname, c.relname, c.relkind::text, c.relfilenode::bigint,
       ({SEQ_SCANS})::bigint, i.indrelid::bigint, ({ROWS_MODIFIED})::bigint
{USER_RELATIONS_FROM}
"""

# current_setting() reads one setting; the pg_settings view builds every setting of the server
# first (~30x slower). It shows the value with its unit ("5s", "1500ms", "1min"), converted below.
SETTINGS_SQL = """
select current_setting('lock_timeout'), current_setting('statement_timeout'),
       (extract(epoch from now()) * 1000000)::bigint
"""

# the fallback for a value _milliseconds cannot read (never expected: PostgreSQL's own display units)
SETTINGS_VIEW_SQL = """
select name, setting::bigint from pg_catalog.pg_settings
where name in ('lock_timeout', 'statement_timeout')
"""

# the units PostgreSQL shows a time setting in (guc.c, memory_units / time_unit_conversion_table)
_TIME_UNITS = {"us": 0.001, "ms": 1, "s": 1000, "min": 60_000, "h": 3_600_000, "d": 86_400_000}


def _milliseconds(shown: str) -> int | None:
    """A time setting as current_setting() shows it ("0", "5s", "1500ms") in ms; None if unreadable."""
    text = str(shown).strip()
    digits = text.rstrip("abcdefghijklmnopqrstuvwxyz")
    unit = text[len(digits):] or "ms"
    if not digits.isdigit() or unit not in _TIME_UNITS:
        return None
    return int(int(digits) * _TIME_UNITS[unit])


def fetch(dbapi_conn: Any, sql: str) -> list[tuple]:
    """All rows of ``sql`` run on a DBAPI connection (any driver SQLAlchemy adapts)."""
    cur = dbapi_conn.cursor()
    try:
        cur.execute(sql)
        return list(cur.fetchall())
    finally:
        cur.close()


def _fetch_one(dbapi_conn: Any, query: str | tuple[str, tuple]) -> list[tuple]:
    return fetch(dbapi_conn, query) if isinstance(query, str) else fetch_params(dbapi_conn, *query)


def _text_and_params(query: str | tuple[str, tuple]) -> tuple[str, tuple | None]:
    return (query, None) if isinstance(query, str) else query


def fetch_all(dbapi_conn: Any, sqls: list[str | tuple[str, tuple]]) -> list[list[tuple]]:
    """The rows of each of ``sqls``, in one round trip when the driver can pipeline (psycopg 3's
    pipeline mode, libpq 14+), else one query after the other. Each is a SQL text, or a
    ``(text, parameters)`` pair (``fetch_params``: one text whatever the values, so the server plans
    it once). Under CPU contention each round trip costs a scheduling delay on both sides, so the
    tracer's queries that need no answer from each other go together."""
    pipeline = getattr(dbapi_conn, "pipeline", None) if isinstance(dbapi_conn, psycopg.Connection) else None
    if pipeline is None or len(sqls) < 2:
        return [_fetch_one(dbapi_conn, sql) for sql in sqls]
    cursors = []
    # Not `with pipeline():` — when a statement in the block fails (the server died), psycopg's exit
    # logs "error ignored terminating <Pipeline [BAD]>" to stderr beside our one-paragraph error; the
    # block's own exception is what we raise, so the pipeline is closed as if the block had ended.
    stack = contextlib.ExitStack()
    try:
        stack.enter_context(pipeline())
        for sql in sqls:
            cur = dbapi_conn.cursor()
            cur.execute(*_text_and_params(sql))  # psycopg 3 only here: no placeholder translation
            cursors.append(cur)
    except psycopg.NotSupportedError:  # libpq older than 14: no pipeline mode
        with contextlib.suppress(psycopg.Error):
            stack.close()
        return [_fetch_one(dbapi_conn, sql) for sql in sqls]
    except BaseException:
        with contextlib.suppress(psycopg.Error):
            stack.close()
        raise
    stack.close()
    try:
        return [list(cur.fetchall()) for cur in cursors]
    finally:
        for cur in cursors:
            cur.close()


def snapshot(dbapi_conn: Any) -> dict[int, Relation]:
    """All user relations by OID, with relfilenode and this transaction's seq_scan and rows updated or
    deleted (``pg_stat_xact_user_tables``)."""
    return relations(fetch(dbapi_conn, SNAPSHOT_SQL))


def relations(rows: list[tuple]) -> dict[int, Relation]:
    """``snapshot`` from the rows of ``SNAPSHOT_SQL``."""
    rels = {}
    for oid, schema, name, kind, filenode, seq_scan, table_oid, n_mod in rows:
        rels[int(oid)] = Relation(int(oid), schema, name, kind, int(filenode or 0), int(seq_scan or 0),
                                  int(table_oid) if table_oid else None, n_mod=int(n_mod or 0))
    return rels


def session_state(dbapi_conn: Any, rows: list[tuple] | None = None) -> tuple[int, int, str]:
    """``(lock_timeout_ms, statement_timeout_ms, xact)`` on the connection: the timeouts in force
    (0 = disabled) and the start of the current transaction (``now()``, the same for every statement
    of one transaction), as an identifier. ``rows``: those of ``SETTINGS_SQL`` when already read."""
    lock_shown, statement_shown, xact_start = (rows or fetch(dbapi_conn, SETTINGS_SQL))[0]
    lock_ms, statement_ms = _milliseconds(lock_shown), _milliseconds(statement_shown)
    if lock_ms is None or statement_ms is None:
        values = dict(fetch(dbapi_conn, SETTINGS_VIEW_SQL))
        lock_ms, statement_ms = int(values.get("lock_timeout", 0)), int(values.get("statement_timeout", 0))
    return lock_ms, statement_ms, f"x{xact_start}"


def in_transaction_block(dbapi_conn: Any) -> bool | None:
    """Whether the server has a transaction block open on the connection, as libpq (or asyncpg) last
    heard from the server, not the driver's own bookkeeping: after ``op.execute("COMMIT")`` psycopg2
    still believes it is in a transaction and sends no BEGIN, so the next statement runs outside one.
    None when the driver does not tell."""
    status = getattr(getattr(dbapi_conn, "info", None), "transaction_status", None)
    if status is not None:  # psycopg2 and psycopg: IDLE 0, ACTIVE 1, INTRANS 2, INERROR 3
        return int(status) in (2, 3)
    is_in = getattr(getattr(dbapi_conn, "_connection", None), "is_in_transaction", None)  # asyncpg adapter
    if callable(is_in):
        return bool(is_in())
    return None


def backend_pid(dbapi_conn: Any) -> int:
    return int(fetch(dbapi_conn, "select pg_backend_pid()")[0][0])


def server_version_num(dbapi_conn: Any) -> int:
    return int(fetch(dbapi_conn, "select current_setting('server_version_num')")[0][0])


def execute(dbapi_conn: Any, sql: str) -> None:
    """Run a statement that returns no rows (BEGIN, COMMIT) on a DBAPI connection."""
    cur = dbapi_conn.cursor()
    try:
        cur.execute(sql)
    finally:
        cur.close()


# Functions of the project's own: not built in (no function of that name in pg_catalog, so an
# extension's overload of max() or regexp_match() does not count) and not an extension's member.
USER_FUNCTIONS_SQL = """
select p.proname, l.lanname,
       case when l.lanname = 'plpgsql' and p.prokind in ('f', 'p') then pg_catalog.pg_get_functiondef(p.oid)
            else p.prosrc end
from pg_catalog.pg_proc p
join pg_catalog.pg_namespace n on n.oid = p.pronamespace
join pg_catalog.pg_language l on l.oid = p.prolang
where n.nspname not in ('pg_catalog', 'information_schema') and p.proname = any(%s)
  and not exists (select 1 from pg_catalog.pg_proc b
                  where b.proname = p.proname and b.pronamespace = 'pg_catalog'::regnamespace)
  and not exists (select 1 from pg_catalog.pg_depend d
                  where d.classid = 'pg_catalog.pg_proc'::regclass and d.objid = p.oid and d.deptype = 'e')
"""


def fetch_params(dbapi_conn: Any, sql: str, params: tuple) -> list[tuple]:
    """``fetch`` with positional parameters: ``sql`` is written in the ``format`` paramstyle (``%s``,
    a literal ``%`` doubled) that psycopg and psycopg2 take, and turned into ``$1, $2…`` for
    SQLAlchemy's asyncpg adapter (paramstyle ``numeric_dollar``)."""
    cur = dbapi_conn.cursor()
    try:
        cur.execute(_numbered(sql) if _numeric_dollar(dbapi_conn) else sql, params)
        return list(cur.fetchall())
    finally:
        cur.close()


def _numeric_dollar(dbapi_conn: Any) -> bool:
    return type(dbapi_conn).__module__.startswith("sqlalchemy.dialects.postgresql.asyncpg")


def _numbered(sql: str) -> str:
    """``%s`` placeholders as ``$1, $2…`` and ``%%`` as ``%`` (DBAPI ``format`` → ``numeric_dollar``)."""
    out, n, i = [], 0, 0
    while (j := sql.find("%", i)) != -1:
        out.append(sql[i:j])
        if sql.startswith("%s", j):
            n += 1
            out.append(f"${n}")
        else:  # "%%"
            out.append("%")
        i = j + 2
    out.append(sql[i:])
    return "".join(out)
