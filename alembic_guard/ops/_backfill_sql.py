"""The SQL text of a backfill: key tuples and bound key ranges, the one-statement batch UPDATE of a
``set=`` backfill, and the repeatable batch UPDATE written in ``--sql`` mode."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from ..errors import GuardError
from ._backfill_vacuum import vacuum_sql
from ._runner import Runner
from ._sql import SqlText, fragment, ident, ident_list, qualified
from ._log import log


# names of the CTEs of the batch statement (unlikely to collide with the caller's SQL)
_BATCH, _LAST, _UPD = "alembic_guard_batch", "alembic_guard_last", "alembic_guard_updated"


def _key_tuple(names: Sequence[str]) -> str:
    return "(" + ", ".join(names) + ")"


def _bound(prefix: str, types: Sequence[str]) -> str:
    return "(" + ", ".join(f"CAST(:{prefix}{i} AS {t})" for i, t in enumerate(types)) + ")"


def _batch_statement(table_sql: str, key_names: list[str], lo_sql: str, batch_size: int, set_sql: str,
                     extra: str) -> str:
    """One batch of a ``set=`` backfill as ONE statement: pick the next ``batch_size`` keys after
    ``lo_sql``, update that key range, return the range's row count, updated count and last key."""
    key_sql, key_order = _key_tuple(key_names), ", ".join(key_names)
    key_desc = ", ".join(f"{k} DESC" for k in key_names)
    return (
        f"WITH {_BATCH} AS MATERIALIZED (SELECT {key_order} FROM {table_sql} WHERE {lo_sql} "
        f"ORDER BY {key_order} LIMIT {batch_size}), "
        f"{_LAST} AS (SELECT {key_order} FROM {_BATCH} ORDER BY {key_desc} LIMIT 1), "
        f"{_UPD} AS (UPDATE {table_sql} SET {set_sql} WHERE {lo_sql} AND {key_sql} <= "
        f"(SELECT {key_order} FROM {_LAST}){extra} RETURNING 1) "
        f"SELECT (SELECT count(*) FROM {_BATCH}), (SELECT count(*) FROM {_UPD}), "
        f"{', '.join(f'{_LAST}.{k}' for k in key_names)} FROM (SELECT) AS one LEFT JOIN {_LAST} ON true")


def _offline(runner: Runner, table_name: str, schema: str | None, assignments: dict[str, SqlText],
             where_sql: str | None, callback: Any, key_columns: Sequence[str] | None, skip_unchanged: bool) -> None:
    table_sql = qualified(table_name, schema)
    s = runner.settings
    if callback is not None:
        name = getattr(callback, "__qualname__", repr(callback))
        runner.comment(f"backfill {table_sql} with the Python callback {name}: it cannot be rendered as SQL;")
        runner.comment("run this revision online (alembic upgrade without --sql) or write the UPDATE by hand.")
        runner.blank()
        log.warning("backfill of %s with a callback cannot be rendered in --sql mode", table_sql)
        return
    cols = [(ident(c), fragment(e)) for c, e in assignments.items()]
    set_sql = ", ".join(f"{c} = {e}" for c, e in cols)
    predicates = [f"({where_sql})"] if where_sql else []
    if skip_unchanged:
        predicates.append(f"ROW({', '.join(c for c, _ in cols)}) IS DISTINCT FROM ROW({', '.join(e for _, e in cols)})")
    if not predicates:
        raise GuardError(f"backfill of {table_sql} with skip_unchanged=False and no where= cannot be rendered "
                         "as a repeatable batch statement (it would never reach UPDATE 0).")
    if key_columns:
        pick = f"{_key_tuple([ident(k) for k in key_columns])} IN (SELECT {ident_list(list(key_columns))}"
        order = f" ORDER BY {ident_list(list(key_columns))}"
        close = ")"
    else:
        pick, order, close = "ctid = ANY (ARRAY(SELECT ctid", "", "))"
    statement = (f"UPDATE {table_sql} SET {set_sql} WHERE {pick} FROM {table_sql} WHERE {' AND '.join(predicates)}"
                 f"{order} LIMIT {s.batch_size} FOR UPDATE SKIP LOCKED{close}")
    runner.comment(f"backfill {table_sql} SET {set_sql}")
    runner.comment("Run outside a transaction, in batches: execute the UPDATE below repeatedly, each run in its own")
    runner.comment("transaction (autocommit), until it reports UPDATE 0; sleep between runs to throttle")
    runner.comment(f"(batch_pause_ms = {s.batch_pause_ms}). Each run changes at most {s.batch_size} rows that still")
    runner.comment("need it, so a rerun after an interruption is safe. Each run searches from the start of the")
    runner.comment("table for such rows; on a large table index the predicate, or run online where alembic_guard")
    runner.comment("walks the primary key in keyset batches. In psql, end the statement with \\watch 0.1")
    runner.comment("and stop it (Ctrl-C) once it reports UPDATE 0.")
    if s.vacuum_every > 0:
        # what the online backfill does between batches (ops/_backfill_vacuum.py), left to the DBA here
        runner.comment(f"On a large table, run {vacuum_sql(table_sql)} each time about {s.vacuum_every:.0%}")
        runner.comment("of its rows were updated (PostgreSQL 13+; outside a transaction): later runs then find few "
                       "dead index entries.")
    runner.autocommit(f"backfill {table_sql}", [statement], blocking=True)
