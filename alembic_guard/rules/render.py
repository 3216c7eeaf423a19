"""Render the safe alternative as Alembic code with the user's own names."""

from __future__ import annotations


def table_args(table: str) -> str:
    """``"orders"`` or ``"orders", schema="sales"`` for a qualified name."""
    if "." in table:
        schema, name = table.split(".", 1)
        return f"{name!r}, schema={schema!r}"
    return repr(table)


def table_kw(table: str, key: str = "table_name") -> str:
    if "." in table:
        schema, name = table.split(".", 1)
        return f"{key}={name!r}, schema={schema!r}"
    return f"{key}={table!r}"


def autocommit_block(*lines: str) -> str:
    """``lines`` (each may span several lines) inside ``with op.get_context().autocommit_block():``."""
    body = "\n".join("    " + ln for item in lines for ln in item.split("\n"))
    return "with op.get_context().autocommit_block():\n" + body


def q(name: str) -> str:
    """A (possibly schema-qualified) name as SQL, quoted where PostgreSQL needs it."""
    from ..sql import quote_ident

    return ".".join(quote_ident(p) for p in name.split("."))


def execute(sql: str) -> str:
    """``op.execute("…")`` for one SQL statement."""
    return f"op.execute({sql!r})" if '"' in sql else f'op.execute("{sql}")'


LOCK_TIMEOUT = "op.execute(\"SET LOCAL lock_timeout = '2s'\")"


def lines(*parts: str) -> str:
    """Join code lines/blocks, dropping empty ones."""
    return "\n".join(p for p in parts if p)


def constraint_name(table: str, *parts: str, suffix: str) -> str:
    base = table.split(".")[-1]
    name = "_".join([base, *parts, suffix]) if parts else f"{base}_{suffix}"
    return name[:63]


OPS_NOTE = "# (op.backfill & co. come from alembic_guard.ops: add `import alembic_guard.ops` to env.py)"


def batched_backfill(table: str, column: str, value: str, *, where: str | None = None) -> str:
    """A batched backfill outside the migration transaction: ``op.backfill`` (alembic_guard.ops)
    updates in keyset batches on the primary key, one short transaction per batch, resumable."""
    return backfill_call(table, {column: value}, where=where or f"{q(column)} IS NULL")


def _key_words(key: tuple[str, ...] | None) -> str:
    if not key:
        return "the primary key"
    return f"the primary key ({', '.join(key)})"


def backfill_call(table: str, assignments: dict[str, str], *, where: str | None = None,
                  key: tuple[str, ...] | None = None) -> str:
    """``op.backfill(table, set={...}, where=...)``: every assignment of the UPDATE, its WHERE (none:
    ``skip_unchanged`` keeps reruns idempotent), keyset batches on ``key`` (the primary key)."""
    schema = ""
    name = table
    if "." in table:
        sch, name = table.split(".", 1)
        schema = f", schema={sch!r}"
    cond = f", where={where!r}" if where else ""
    return lines(
        OPS_NOTE,
        f"op.backfill({name!r}, set={assignments!r}{cond}{schema},\n"
        f"            batch_size=5000)  # keyset batches on {_key_words(key)}, outside the transaction",
    )


def backfill_plan_without_key(table: str, assignments: dict[str, str], *, where: str | None = None) -> str:
    """No primary key and no unique key: op.backfill cannot walk the table; the plan, not wrong code."""
    cond = f", where={where!r}" if where else ""
    return lines(
        f"# {table} has no primary key or unique key: a keyset batch walk needs one (op.backfill raises).",
        "# Plan: 1. in a revision of its own, build a unique index CONCURRENTLY on a NOT NULL column and",
        "#          make it the primary key (op.add_primary_key_using_index, alembic_guard.ops);",
        "#       2. then batch this UPDATE on it, outside the transaction:",
        OPS_NOTE,
        f"op.backfill({table_args(table)}, set={assignments!r}{cond},",
        "            key_columns=['<unique NOT NULL column>'], batch_size=5000)",
    )


def _pystr(sql: str, indent: str) -> str:
    """``sql`` as a Python string literal, split over lines at SQL clause boundaries."""
    parts: list[str] = []
    for chunk in sql.split("\n"):
        parts.append(repr(chunk))
    return ("\n" + indent).join(parts)


def keyset_update(*, table: str, target: str, ref: str, set_sql: str, from_sql: str | None,
                  where: str | None, key: tuple[str, ...], with_sql: str | None = None) -> str:
    """A raw UPDATE (``UPDATE … FROM`` kept as written) in keyset batches on ``key``, each batch one
    statement (one short transaction) in an autocommit block: a CTE picks the next ``key`` range, the
    UPDATE is restricted to it, the statement returns the batch's last key for the next round.
    ``target``: the UPDATE's relation as written (with its alias); ``ref``: how its columns are
    qualified (the alias, else the table). The SQL pieces are taken as the driver was given them
    (``%`` already doubled by SQLAlchemy for a pyformat driver), as ``exec_driver_sql`` needs them."""
    t = q(table)
    kcols = ", ".join(q(k) for k in key)
    krow = f"({kcols})" if len(key) > 1 else kcols
    params = ", ".join(f"%(k{i})s" for i in range(len(key)))
    prow = f"({params})" if len(key) > 1 else params
    qualified = ", ".join(f"{ref}.{q(k)}" for k in key)
    qrow = f"({qualified})" if len(key) > 1 else qualified
    desc = ", ".join(f"{q(k)} DESC" for k in key)
    sql = "\n".join([
        f"WITH {with_sql + ', ' if with_sql else ''}batch AS MATERIALIZED (SELECT {kcols} FROM {t} ",
        f"WHERE %(first)s OR {krow} > {prow} ORDER BY {kcols} LIMIT 5000), ",
        f"done AS (UPDATE {target} SET {set_sql} " + (f"FROM {from_sql} " if from_sql else ""),
        f"WHERE {qrow} IN (SELECT {kcols} FROM batch)" + (f" AND ({where})" if where else "") + ") ",
        f"SELECT {kcols} FROM batch ORDER BY {desc} LIMIT 1",
    ])
    names = ", ".join(f"'k{i}'" for i in range(len(key)))
    nones = ", ".join("None" for _ in key)
    return lines(
        f"# keyset batches on {_key_words(key)} of {table}, one short transaction each, the FROM clause kept",
        "# (op.backfill has no FROM). A rerun after a failure starts again from the first key: keep the",
        "# WHERE idempotent (skip rows already done).",
        "with op.get_context().autocommit_block():",
        "    last = None",
        "    while True:",
        "        last = op.get_bind().exec_driver_sql(",
        "            " + _pystr(sql, "            ") + ",",
        f"            {{'first': last is None, **dict(zip(({names},), last or ({nones},)))}}).first()",
        "        if last is None:",
        "            break",
    )


def batched_delete(*, table: str, target: str, ref: str, where: str | None, key: tuple[str, ...] | None,
                   using_sql: str | None = None, with_sql: str | None = None, partitioned: bool = False) -> str:
    """DELETE in batches of 5000 rows, one short transaction each, until none is left: by the real
    primary key (a composite key as a row), or by ctid when the table has no key (a plan only for a
    partitioned table, where a ctid is unique within one partition only)."""
    frm = target + (f", {using_sql}" if using_sql else "")
    cond = f" WHERE {where}" if where else ""
    prefix = f"WITH {with_sql} " if with_sql else ""
    t = q(table)
    if key:
        kcols = ", ".join(q(k) for k in key)
        krow = f"({kcols})" if len(key) > 1 else kcols
        sel = ", ".join(f"{ref}.{q(k)}" for k in key)
        sql = f"{prefix}DELETE FROM {t} WHERE {krow} IN (SELECT {sel} FROM {frm}{cond} LIMIT 5000)"
        head = (f"# delete in batches on {_key_words(key)} of {table} (composite: each batch selects whole "
                "key tuples), outside the transaction, one short transaction each:" if len(key) > 1 else
                f"# delete in batches on {_key_words(key)} of {table}, outside the transaction, "
                "one short transaction each:")
    elif partitioned:
        return lines(
            f"# {table} has no primary key or unique key, and it is partitioned: a batch cannot name its rows",
            "# (a ctid is unique within one partition only). Plan: delete from each partition on its own",
            "# (SELECT relid::regclass FROM pg_partition_tree(...) WHERE isleaf) in ctid batches:",
            f"#   DELETE FROM <partition> WHERE ctid = ANY (ARRAY(SELECT ctid FROM <partition>{cond} LIMIT 5000))",
            "# repeated in an autocommit block until it deletes no row; or add a primary key first.",
        )
    else:
        sql = f"{prefix}DELETE FROM {t} WHERE ctid = ANY (ARRAY(SELECT {ref}.ctid FROM {frm}{cond} LIMIT 5000))"
        head = (f"# {table} has no primary key or unique key: batch by ctid (the row's address; a row updated\n"
                "# meanwhile moves and is picked up by a later pass). ctid is unique within one table only:\n"
                "# for a table with inheritance children run it on each. Better: add a primary key first.")
    return lines(
        head,
        "with op.get_context().autocommit_block():",
        "    while op.get_bind().exec_driver_sql(",
        f"            {sql!r}).rowcount:",
        "        pass",
    )


def not_null_via_check(table: str, column: str, *, pg_version: int = 0) -> str:
    """The set-not-null recipe's hint (alembic_guard/recipes/set_not_null.py) for ``table.column``."""
    from ..recipes import recipe
    from ..recipes.create_index import fresh
    from ..rewrite.facts import Facts

    node = fresh(f"ALTER TABLE {q(table)} ALTER COLUMN {q(column)} SET NOT NULL")
    return recipe("set-not-null").hint(node, Facts(server_version_num=pg_version)).text()


_SA_TYPES = {
    "smallint": "sa.SmallInteger()", "integer": "sa.Integer()", "bigint": "sa.BigInteger()",
    "text": "sa.Text()", "varchar": "sa.String()", "uuid": "sa.Uuid()", "boolean": "sa.Boolean()",
    "timestamptz": "sa.DateTime(timezone=True)", "timestamp with time zone": "sa.DateTime(timezone=True)",
    "timestamp": "sa.DateTime()", "timestamp without time zone": "sa.DateTime()", "date": "sa.Date()",
    "double precision": "sa.Double()", "real": "sa.REAL()", "jsonb": "sa.dialects.postgresql.JSONB()",
    "json": "sa.JSON()", "numeric": "sa.Numeric()", "serial": "sa.Integer()", "bigserial": "sa.BigInteger()",
    "smallserial": "sa.SmallInteger()",
}


def sa_type(sql_type: str) -> str | None:
    """The SQLAlchemy type for a SQL type name (``varchar(20)`` → ``sa.String(20)``), or None."""
    t = sql_type.lower().replace("pg_catalog.", "").strip()
    base, _, args = t.partition("(")
    base = base.strip()
    if base in ("varchar", "character varying") and args:
        return f"sa.String({args.rstrip(')')})"
    if base == "numeric" and args:
        return f"sa.Numeric({args.rstrip(')')})"
    return _SA_TYPES.get(base) if not args else None


def add_column(table: str, column: str, sql_type: str, *, nullable: bool = True,
               server_default: str | None = None, server_default_code: str | None = None) -> str:
    """``op.add_column(...)`` when the type maps to SQLAlchemy, else the equivalent ``op.execute``."""
    sa_t = sa_type(sql_type)
    if sa_t is None:
        default = f" DEFAULT {server_default or server_default_code}" if server_default or server_default_code else ""
        nn = "" if nullable else " NOT NULL"
        return execute(f"ALTER TABLE {q(table)} ADD COLUMN {q(column)} {sql_type}{default}{nn}")
    extra = ""
    if server_default:
        extra = f", server_default=sa.text({server_default!r})"
    if server_default_code:
        extra = f", server_default={server_default_code}"
    return f"op.add_column({table_args(table)}, sa.Column({column!r}, {sa_t}, nullable={nullable}{extra}))"


def concurrent_index(name: str, table: str, cols: list[str], *, unique: bool = False, node=None) -> str:
    """The create-index recipe's hint (alembic_guard/recipes/create_index.py) for an index ``name``
    on ``table``: ``node`` (a pglast IndexStmt) when there is one, else one built from the columns."""
    from ..recipes import recipe
    from ..recipes.create_index import fresh
    from ..rewrite.facts import Facts

    if node is None:
        node = fresh(f"CREATE {'UNIQUE ' if unique else ''}INDEX {q(name)} ON {q(table)} "
                     f"({', '.join(q(c) for c in cols)})")
    hint = recipe("create-index").hint(node, Facts(relkind=lambda t: "r"))
    return hint.text() if hint else ""
