"""Catalog snapshots taken on the *migration* connection.

They must run on that connection: a table rewrite gives the relation a new ``pg_class.relfilenode``
and relations created in the open transaction exist only there (MVCC hides both from any other
session). ``pg_stat_xact_user_tables`` likewise counts the scans of the current transaction only
("The Cumulative Statistics System" in the PostgreSQL docs).
"""

from __future__ import annotations

from typing import Any

from ..model import Relation

SNAPSHOT_SQL = """
select c.oid::bigint, n.nspname, c.relname, c.relkind::text, c.relfilenode::bigint,
       coalesce(s.seq_scan, 0)::bigint, i.indrelid::bigint,
       coalesce(s.n_tup_upd + s.n_tup_del, 0)::bigint
from pg_catalog.pg_class c
join pg_catalog.pg_namespace n on n.oid = c.relnamespace
left join pg_catalog.pg_stat_xact_user_tables s on s.relid = c.oid
left join pg_catalog.pg_index i on i.indexrelid = c.oid
where c.relkind in ('r', 'p', 'i', 'I', 'm', 'S')
  and n.nspname <> 'information_schema' and n.nspname not like 'pg\\_%'
"""

SETTINGS_SQL = """
select name, setting::bigint from pg_catalog.pg_settings
where name in ('lock_timeout', 'statement_timeout')
union all select 'xact_start', (extract(epoch from now()) * 1000000)::bigint
"""


def fetch(dbapi_conn: Any, sql: str) -> list[tuple]:
    """All rows of ``sql`` run on a DBAPI connection (any driver SQLAlchemy adapts)."""
    cur = dbapi_conn.cursor()
    try:
        cur.execute(sql)
        return list(cur.fetchall())
    finally:
        cur.close()


def snapshot(dbapi_conn: Any) -> dict[int, Relation]:
    """All user relations by OID, with relfilenode and this transaction's seq_scan and rows updated or
    deleted (``pg_stat_xact_user_tables``)."""
    rels = {}
    for oid, schema, name, kind, filenode, seq_scan, table_oid, n_mod in fetch(dbapi_conn, SNAPSHOT_SQL):
        rels[int(oid)] = Relation(int(oid), schema, name, kind, int(filenode or 0), int(seq_scan or 0),
                                  int(table_oid) if table_oid else None, n_mod=int(n_mod or 0))
    return rels


def session_state(dbapi_conn: Any) -> tuple[int, int, str]:
    """``(lock_timeout_ms, statement_timeout_ms, xact)`` on the connection: the timeouts in force
    (0 = disabled) and the start of the current transaction (``now()``, the same for every statement
    of one transaction), as an identifier."""
    values = dict(fetch(dbapi_conn, SETTINGS_SQL))
    return (int(values.get("lock_timeout", 0)), int(values.get("statement_timeout", 0)),
            f"x{values.get('xact_start', 0)}")


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
select distinct p.proname from pg_catalog.pg_proc p
join pg_catalog.pg_namespace n on n.oid = p.pronamespace
where n.nspname not in ('pg_catalog', 'information_schema') and p.proname = any(%s)
  and not exists (select 1 from pg_catalog.pg_proc b
                  where b.proname = p.proname and b.pronamespace = 'pg_catalog'::regnamespace)
  and not exists (select 1 from pg_catalog.pg_depend d
                  where d.classid = 'pg_catalog.pg_proc'::regclass and d.objid = p.oid and d.deptype = 'e')
"""


def fetch_params(dbapi_conn: Any, sql: str, params: tuple) -> list[tuple]:
    """``fetch`` with positional parameters in the driver's own style (``%s`` for psycopg/psycopg2,
    ``$1`` for asyncpg, whose SQLAlchemy adapter takes ``%s`` too)."""
    cur = dbapi_conn.cursor()
    try:
        cur.execute(sql, params)
        return list(cur.fetchall())
    finally:
        cur.close()
