"""What the autogenerate hook knows about the database autogenerate compared against (catalog reads
only: tables, relkinds, volatility of defaults, rewriting type changes), and the SQL of an operation."""

from __future__ import annotations

import io
from typing import Any

from alembic.operations import ops

from ..rewrite.facts import calls_volatile


def qualified(name: str, schema: str | None) -> str:
    return f"{schema}.{name}" if schema and schema != "public" else name


def op_sql(op: ops.MigrateOperation) -> list[str]:
    """The SQL Alembic would run for ``op`` on PostgreSQL (offline rendering, literal binds)."""
    import pglast
    from alembic.migration import MigrationContext
    from alembic.operations import Operations

    buf = io.StringIO()
    ctx = MigrationContext.configure(dialect_name="postgresql",
                                     opts={"as_sql": True, "output_buffer": buf, "literal_binds": True})
    try:
        Operations(ctx).invoke(op)
    except Exception:
        return []
    text = buf.getvalue()
    try:
        return [s.strip() for s in pglast.split(text) if s.strip()]
    except Exception:
        return []


class DbFacts:
    """Catalog questions answered by the database autogenerate compared against (reads only)."""

    def __init__(self, connection: Any):
        self.connection = connection
        self.tables: set[str] = set()
        self.kinds: dict[str, str] = {}
        self.version_num = 0
        if connection is None:
            return
        from sqlalchemy import text

        rows = connection.execute(text(
            "SELECT n.nspname, c.relname, c.relkind::text FROM pg_class c JOIN pg_namespace n "
            "ON n.oid = c.relnamespace WHERE c.relkind IN ('r', 'p', 'm') "
            "AND n.nspname NOT IN ('pg_catalog', 'information_schema')")).fetchall()
        for schema, name, kind in rows:
            q = qualified(name, schema)
            self.tables.add(q)
            self.kinds[q] = kind
        self.version_num = int(connection.execute(text("SHOW server_version_num")).scalar())

    @property
    def catalog(self) -> dict:
        """Qualified table name → model.TableFacts (column types, NOT NULL, indexes, constraints), for
        the recipes' plans; read once."""
        if not hasattr(self, "_catalog"):
            from ..trace.keys import table_facts

            self._catalog = {}
            if self.connection is not None:
                try:
                    self._catalog = table_facts(self.connection.connection.dbapi_connection)
                except Exception:  # a catalog the query cannot read: plans fall back to placeholders
                    self._catalog = {}
        return self._catalog

    def volatile(self, expr: str) -> bool | None:
        if self.connection is None:
            return None
        from sqlalchemy import text

        return calls_volatile(expr, lambda names: bool(self.connection.execute(text(
            "SELECT coalesce(bool_or(provolatile = 'v'), false) FROM pg_proc WHERE proname = ANY(:n)"),
            {"n": names}).scalar()))

    def rewrites_type(self, op: ops.AlterColumnOp) -> bool:
        """True when changing ``existing_type`` → ``modify_type`` rewrites the table (not a
        binary-coercible cast, e.g. int → bigint)."""
        from sqlalchemy import text
        from sqlalchemy.dialects import postgresql

        if op.modify_type is None:
            return False
        if op.existing_type is None or self.connection is None:
            return True
        dialect = postgresql.dialect()
        old, new = op.existing_type.compile(dialect=dialect), op.modify_type.compile(dialect=dialect)
        if old == new:
            return False
        row = self.connection.execute(text(
            "SELECT a.t = b.t, (SELECT castmethod FROM pg_cast WHERE castsource = a.t AND casttarget = b.t) "
            "FROM (SELECT CAST(:o AS regtype)::oid AS t) a, (SELECT CAST(:n AS regtype)::oid AS t) b"),
            {"o": old, "n": new}).fetchone()
        same, method = row
        if same:
            length = getattr(op.modify_type, "length", None)
            old_length = getattr(op.existing_type, "length", None)
            return not (length is None or (old_length is not None and length >= old_length))
        return method != "b"
