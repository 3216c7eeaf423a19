"""Catalog facts about the relations that exist when a revision starts, read on the migration
connection (relations created by earlier revisions of the same open transaction exist only there).

- ``unique_keys``: the primary key and unique constraints/indexes of each table, so a rule can tell a
  targeted UPDATE/DELETE (``WHERE id = 5``) from a full-table one. Source: ``pg_index`` (``indisunique``,
  ``indisprimary``, ``indpred`` NULL for a full, non-partial index; expression indexes left out).
- ``published_tables``: tables in any publication (``pg_publication_tables`` also expands
  ``FOR ALL TABLES`` and ``FOR TABLES IN SCHEMA``), where dropping the primary key or changing the
  replica identity breaks logical replication of UPDATE/DELETE ("Logical Replication",
  Publication chapter of the PostgreSQL docs).
"""

from __future__ import annotations

from typing import Any

from .catalog import fetch

UNIQUE_KEYS_SQL = """
select n.nspname, t.relname, i.indisprimary,
       array(select a.attname from unnest(i.indkey) with ordinality k(attnum, ord)
             join pg_catalog.pg_attribute a on a.attrelid = i.indrelid and a.attnum = k.attnum
             order by k.ord)::text[]
from pg_catalog.pg_index i
join pg_catalog.pg_class t on t.oid = i.indrelid
join pg_catalog.pg_namespace n on n.oid = t.relnamespace
where i.indisunique and i.indpred is null and i.indexprs is null
  and n.nspname <> 'information_schema' and n.nspname not like 'pg\\_%'
order by n.nspname, t.relname, i.indisprimary desc, i.indexrelid
"""

PUBLISHED_SQL = "select schemaname, tablename from pg_catalog.pg_publication_tables"


def _qualified(schema: str, name: str) -> str:
    return name if schema == "public" else f"{schema}.{name}"


def unique_keys(dbapi_conn: Any) -> dict[str, list[tuple[str, ...]]]:
    """Qualified table name → its unique column lists, the primary key first. Tables without one
    are absent."""
    out: dict[str, list[tuple[str, ...]]] = {}
    for schema, table, _primary, columns in fetch(dbapi_conn, UNIQUE_KEYS_SQL):
        cols = columns if isinstance(columns, (list, tuple)) else str(columns).strip("{}").split(",")
        out.setdefault(_qualified(schema, table), []).append(tuple(cols))
    return out


def published_tables(dbapi_conn: Any) -> set[str]:
    """Qualified names of the tables that some publication replicates."""
    return {_qualified(schema, name) for schema, name in fetch(dbapi_conn, PUBLISHED_SQL)}
