"""Catalog facts about the relations that exist when a revision starts, read on the migration
connection (relations created by earlier revisions of the same open transaction exist only there).

- ``unique_keys``: the primary key and unique constraints/indexes of each table, so a rule can tell a
  targeted UPDATE/DELETE (``WHERE id = 5``) from a full-table one. Source: ``pg_index`` (``indisunique``,
  ``indisprimary``, ``indpred`` NULL for a full, non-partial index; expression indexes left out).
- ``published_tables``: tables in any publication (``pg_publication_tables`` also expands
  ``FOR ALL TABLES`` and ``FOR TABLES IN SCHEMA``), where dropping the primary key or changing the
  replica identity breaks logical replication of UPDATE/DELETE ("Logical Replication",
  Publication chapter of the PostgreSQL docs).
- ``table_facts``: per table, its columns with their SQL types (``format_type``), NOT NULL flags,
  primary key, partition key (``pg_get_partkeydef``) and, for a partition, its bound
  (``pg_get_expr(relpartbound)``); index and constraint definitions (``pg_get_indexdef``,
  ``pg_get_constraintdef``). Recipes write their hints and plans with these real names and types
  instead of placeholders.
"""

from __future__ import annotations

from typing import Any

from ..model import TableFacts
from .catalog import fetch

# (The columns are named: trace/facts_cache.py also reads these rows as JSON objects.)
UNIQUE_KEYS_SQL = """
select n.nspname as schema, t.relname as name, i.indisprimary as is_primary,
       array(select a.attname from unnest(i.indkey) with ordinality k(attnum, ord)
             join pg_catalog.pg_attribute a on a.attrelid = i.indrelid and a.attnum = k.attnum
             order by k.ord)::text[] as columns,
       i.indexrelid::bigint as index_oid, t.oid::bigint as oid
from pg_catalog.pg_index i
join pg_catalog.pg_class t on t.oid = i.indrelid
join pg_catalog.pg_namespace n on n.oid = t.relnamespace
where i.indisunique and i.indpred is null and i.indexprs is null
  and n.nspname <> 'information_schema' and n.nspname not like 'pg\\_%'
"""
#: the order :func:`unique_keys` lists a table's keys in (primary key first), as the names of its columns
UNIQUE_KEYS_ORDER = "order by schema, name, is_primary desc, index_oid"
UNIQUE_KEYS_SQL += UNIQUE_KEYS_ORDER

PUBLISHED_SQL = "select schemaname, tablename from pg_catalog.pg_publication_tables"


def _qualified(schema: str, name: str) -> str:
    return name if schema == "public" else f"{schema}.{name}"




def unique_keys(dbapi_conn: Any) -> dict[str, list[tuple[str, ...]]]:
    """Qualified table name → its unique column lists, the primary key first. Tables without one
    are absent."""
    return _unique_keys(fetch(dbapi_conn, UNIQUE_KEYS_SQL))


def _unique_keys(rows: list[tuple]) -> dict[str, list[tuple[str, ...]]]:
    out: dict[str, list[tuple[str, ...]]] = {}
    for row in rows:
        name, cols = unique_key_row(row)
        out.setdefault(name, []).append(cols)
    return out


def unique_key_row(row: tuple) -> tuple[str, tuple[str, ...]]:
    """One UNIQUE_KEYS_SQL row as ``(qualified table name, key columns)``."""
    schema, table, _primary, columns = row[:4]
    cols = columns if isinstance(columns, (list, tuple)) else str(columns).strip("{}").split(",")
    return _qualified(schema, table), tuple(cols)


def published_tables(dbapi_conn: Any) -> set[str]:
    """Qualified names of the tables that some publication replicates."""
    return _published_tables(fetch(dbapi_conn, PUBLISHED_SQL))


def _published_tables(rows: list[tuple]) -> set[str]:
    return {_qualified(schema, name) for schema, name in rows}


TABLE_FACTS_SQL = """
select n.nspname as schema, c.relname as name, c.relkind::text as kind, c.relrowsecurity as row_security,
       (select array_agg(a.attname::text || '=' || (case when a.attnotnull then '!' else '' end)
                         || format_type(a.atttypid, a.atttypmod) order by a.attnum)
          from pg_catalog.pg_attribute a
         where a.attrelid = c.oid and a.attnum > 0 and not a.attisdropped) as columns,
       (select array_agg(a.attname::text order by k.ord)
          from pg_catalog.pg_index i, unnest(i.indkey) with ordinality k(attnum, ord)
          join pg_catalog.pg_attribute a on a.attrelid = c.oid and a.attnum = k.attnum
         where i.indrelid = c.oid and i.indisprimary) as primary_key,
       case when c.relkind = 'p' then pg_catalog.pg_get_partkeydef(c.oid) end as partition_key,
       case when c.relispartition then pg_catalog.pg_get_expr(c.relpartbound, c.oid) end as partition_bound,
       (select pn.nspname || '.' || pc.relname from pg_catalog.pg_inherits i
          join pg_catalog.pg_class pc on pc.oid = i.inhparent
          join pg_catalog.pg_namespace pn on pn.oid = pc.relnamespace
         where c.relispartition and i.inhrelid = c.oid) as parent,
       (select array_agg(ic.relname::text || '=' || pg_catalog.pg_get_indexdef(i.indexrelid) order by ic.relname)
          from pg_catalog.pg_index i join pg_catalog.pg_class ic on ic.oid = i.indexrelid
         where i.indrelid = c.oid) as indexes,
       (select array_agg(con.conname::text || '=' || pg_catalog.pg_get_constraintdef(con.oid) order by con.conname)
          from pg_catalog.pg_constraint con where con.conrelid = c.oid) as constraints,
       c.oid::bigint as oid
from pg_catalog.pg_class c
join pg_catalog.pg_namespace n on n.oid = c.relnamespace
where c.relkind in ('r', 'p', 'm') and n.nspname <> 'information_schema' and n.nspname not like 'pg\\_%'
"""


def _array(value: Any) -> list[str]:
    """A text[] from any driver: a list, or PostgreSQL's ``{a,b}`` text when the driver gives a string."""
    if value is None:
        return []
    if isinstance(value, (list, tuple)):
        return [str(v) for v in value]
    import csv

    inner = str(value)[1:-1]
    return next(csv.reader([inner], escapechar="\\")) if inner else []


def table_facts(dbapi_conn: Any) -> dict[str, TableFacts]:
    """Qualified table name → its TableFacts (tables, partitioned tables, materialized views)."""
    return _table_facts(fetch(dbapi_conn, TABLE_FACTS_SQL))


def _table_facts(rows: list[tuple]) -> dict[str, TableFacts]:
    return dict(table_facts_row(row) for row in rows)


def table_facts_row(row: tuple) -> tuple[str, TableFacts]:
    """One TABLE_FACTS_SQL row as ``(qualified table name, TableFacts)``."""
    schema, name, kind, rls, cols, pkey, partkey, bound, parent, indexes, cons = row[:11]
    columns: dict[str, str] = {}
    not_null: set[str] = set()
    for item in _array(cols):
        col, _, typ = item.partition("=")
        if typ.startswith("!"):
            not_null.add(col)
            typ = typ[1:]
        columns[col] = typ
    return _qualified(schema, name), TableFacts(
        kind=kind, row_security=bool(rls), columns=columns, not_null=not_null, primary_key=tuple(_array(pkey)),
        partition_key=partkey, partition_bound=bound,
        parent=parent.removeprefix("public.") if parent else None,
        indexes=dict(i.split("=", 1) for i in _array(indexes)),
        constraints=dict(c.split("=", 1) for c in _array(cons)))
