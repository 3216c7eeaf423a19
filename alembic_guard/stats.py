"""Production table sizes, so findings say how long a lock would really be held.

Durations on the (empty) shadow say nothing about production. Sizes come from the production
server's planner statistics — ``pg_class.reltuples`` (rows, estimated by ANALYZE/autovacuum) and
``pg_total_relation_size()`` (bytes, table + indexes + TOAST) — read over a read-only connection
(``default_transaction_read_only=on``; only catalog SELECTs are sent), or from a JSON file made
earlier with ``alembic-guard stats --url … > stats.json``:

```json
{"tables": {"orders": {"rows": 1200000, "bytes": 356515840}}}
```
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from .errors import GuardError

STATS_SQL = """
select case when n.nspname = 'public' then c.relname else n.nspname || '.' || c.relname end,
       greatest(c.reltuples, 0)::bigint, pg_catalog.pg_total_relation_size(c.oid)::bigint
from pg_catalog.pg_class c join pg_catalog.pg_namespace n on n.oid = c.relnamespace
where c.relkind in ('r', 'p', 'm') and n.nspname not in ('pg_catalog', 'information_schema')
  and n.nspname not like 'pg\\_%'
"""

# Orders of magnitude measured on a 2-core machine, PostgreSQL 15 (see FACTS in docs/rules):
# seconds per million rows.
SECONDS_PER_MILLION = {"rewrite": (10.0, 20.0), "scan": (0.4, 1.2), "index": (1.0, 5.0)}


@dataclass(frozen=True)
class TableSize:
    rows: int
    bytes: int


def read_stats_url(url: str) -> dict[str, TableSize]:
    """Table sizes from a production server, read-only. ``url`` is a postgresql:// URI or a libpq
    key=value string (redact.parse_target; ``?password=`` and PGPASSFILE are honoured by libpq).
    Raises GuardError, password redacted, if it cannot be parsed or connected to."""
    import psycopg
    from psycopg.conninfo import make_conninfo

    from .redact import describe, parse_target, redact

    params = parse_target(url, "the stats URL")
    try:
        with psycopg.connect(make_conninfo(**params), options="-c default_transaction_read_only=on",
                             connect_timeout=10) as conn:
            rows = conn.execute(STATS_SQL).fetchall()
            conn.rollback()
    except psycopg.Error as exc:
        raise GuardError(f"cannot read table statistics from {describe(params)}: "
                         f"{redact(' '.join(str(exc).split()))}",
                         hint="Check the --stats-url host, port, user and password (or PGPASSFILE).") from None
    return {name: TableSize(int(n), int(b)) for name, n, b in rows}


def read_stats_file(path: str | Path) -> dict[str, TableSize]:
    """Table sizes from a JSON file (see module doc). Raises GuardError naming the file."""
    try:
        doc = json.loads(Path(path).read_text())
        return {name: TableSize(int(v.get("rows", 0)), int(v.get("bytes", 0))) for name, v in doc["tables"].items()}
    except (OSError, ValueError, KeyError, TypeError, AttributeError) as exc:
        raise GuardError(f"not a stats file ({exc}); expected {{\"tables\": {{name: {{\"rows\": N, \"bytes\": N}}}}}}.",
                         path=str(path)) from exc


def dump_stats(sizes: dict[str, TableSize]) -> str:
    return json.dumps({"tables": {k: {"rows": v.rows, "bytes": v.bytes} for k, v in sorted(sizes.items())}},
                      indent=2) + "\n"


def human_rows(n: int) -> str:
    for unit, div in (("M", 1_000_000), ("k", 1_000)):
        if n >= div:
            return f"{n / div:.1f}{unit}"
    return str(n)


def human_bytes(n: int) -> str:
    for unit, div in (("GB", 1 << 30), ("MB", 1 << 20), ("kB", 1 << 10)):
        if n >= div:
            return f"{n / div:.1f} {unit}"
    return f"{n} B"


def estimate(kind: str, rows: int) -> str:
    """``"12-24 s"`` for ``kind`` (rewrite, scan, index) over ``rows`` rows."""
    lo, hi = SECONDS_PER_MILLION[kind]
    a, b = lo * rows / 1e6, hi * rows / 1e6

    def fmt(s: float) -> str:
        return f"{s:.0f} s" if s < 120 else f"{s / 60:.0f} min"
    return f"{fmt(a)}–{fmt(b)}"
