"""Runtime settings of the safe operations, read from ``[tool.alembic-guard]`` in ``pyproject.toml``.

The file is found by walking up from a start directory (the directory of ``alembic.ini`` when
Alembic knows it, else the current directory) to the first ``pyproject.toml`` that has a
``[tool.alembic-guard]`` table. The whole table (these keys and the analyzer's own, check_config.py)
is validated by a typed model (config_model.py): an unknown key is an error with a did-you-mean.
Every operation call can override any value.

Units are in the names: ``*_ms`` are milliseconds, ``batch_size`` is rows. In the TOML file each
duration may also be written without the ``_ms`` suffix as a PostgreSQL-style string
(``lock_timeout = "1s"``, ``"500ms"``, ``"2min"``) or a bare integer of milliseconds. A timeout of
0 means "no limit", as in PostgreSQL (see "Client Connection Defaults",
https://www.postgresql.org/docs/current/runtime-config-client.html).

Example::

    [tool.alembic-guard]
    lock_timeout = "2s"
    retry_attempts = 20
    batch_size = 2000
"""

from __future__ import annotations

import dataclasses
import functools
import os
import re
import sys
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any

from .errors import GuardError

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - exercised on 3.10 only
    import tomli as tomllib

TABLE = "alembic-guard"
#: ``max_parallel_maintenance_workers = "server"``: leave the server's setting alone
SERVER_VALUE = "server"
_UNITS_MS = {"ms": 1, "s": 1000, "min": 60_000, "h": 3_600_000}


#: the settings that are fractions, and whether 0 is one of their values ([0, 1]) or not ((0, 1])
FRACTIONS = {"duty_cycle": False, "min_duty_cycle": False, "vacuum_every": True}


def fraction_interval(name: str) -> str:
    """``"[0, 1]"`` or ``"(0, 1]"``: the values of the fraction setting ``name``."""
    return "[0, 1]" if FRACTIONS[name] else "(0, 1]"


def fraction_error(name: str, value: Any) -> str | None:
    """Why ``value`` is not a value of the fraction setting ``name`` (a number, no string or
    boolean: TOML's ``false`` would turn a feature off by accident), or None when it is one."""
    number = not isinstance(value, bool) and isinstance(value, (int, float))
    if number and (0 <= value <= 1 if FRACTIONS[name] else 0 < value <= 1):
        return None
    return f"{name} must be a fraction in {fraction_interval(name)}, not {value!r}"


@dataclass(frozen=True)
class Settings:
    """Timeouts, retry policy and backfill batching for the operations in :mod:`alembic_guard.ops`.

    Attributes (``*_ms`` in milliseconds; 0 disables a timeout):

    - ``lock_timeout_ms`` (1000): ``lock_timeout`` of every step that takes a lock which blocks
      reads or writes (ACCESS EXCLUSIVE, SHARE ROW EXCLUSIVE …) and of every backfill batch.
    - ``statement_timeout_ms`` (5000): ``statement_timeout`` of those steps and of each backfill batch.
    - ``concurrent_lock_timeout_ms`` (0): ``lock_timeout`` of steps whose locks block no reads or
      writes while they wait or run (``CREATE/DROP INDEX CONCURRENTLY``, ``VALIDATE CONSTRAINT``).
    - ``concurrent_statement_timeout_ms`` (0): ``statement_timeout`` of those steps (they scan/build).
    - ``retry_attempts`` (10): attempts per step before giving up on ``lock_not_available`` (55P03),
      ``deadlock_detected`` (40P01) or ``serialization_failure`` (40001).
    - ``retry_backoff_min_ms`` (100) / ``retry_backoff_max_ms`` (10000): the pause before retry *n*
      is uniform in ``[0, min(max, min * 2**(n-1))]`` ms (exponential backoff, full jitter).
    - ``retry_max_total_ms`` (300000): no new attempt starts after this much time on one step.
    - ``batch_size`` (1000): rows in the first backfill batch (one transaction each); later batches
      are sized to ``batch_target_ms``.
    - ``batch_pause_ms`` (0): sleep between backfill batches (throttle for replicas / vacuum).
    - ``batch_target_ms`` (30): the duration a backfill aims at per batch (the next batch's size is
      scaled by target / last duration, at most ×2 at a time); 0 keeps ``batch_size`` fixed.
    - ``batch_max_ms`` (100): a batch slower than this makes the next one smaller at once, whatever
      the target.
    - ``max_batch_size`` (100000): rows; the adaptive batch size never grows past it.
    - ``duty_cycle`` (1.0, a fraction in (0, 1]): the largest share of wall time a backfill spends
      inside batches (after a batch of *t* s it sleeps *t* × (1 − d) / d).
    - ``min_duty_cycle`` (0.75): the share it falls to when its batches suddenly run slower than
      before (contention; a slow drift of the backfill's own cost is not; see ops/_backfill_pace.py).
    - ``vacuum_every`` (0.1, a fraction in [0, 1]): a backfill runs ``VACUUM (SKIP_LOCKED, TRUNCATE false, PARALLEL 0)``
      of its table each time it has written this share of the table's estimated rows (at least
      10,000 rows), so later batches do not pay for the dead index entries of earlier ones; 0 never
      (see ops/_backfill_vacuum.py).
    - ``max_parallel_maintenance_workers`` (0): set in the session of a concurrent index build so it
      leaves the other cores to the application; None (``"server"`` in TOML) keeps the server's value.
    """

    lock_timeout_ms: int = 1000
    statement_timeout_ms: int = 5000
    concurrent_lock_timeout_ms: int = 0
    concurrent_statement_timeout_ms: int = 0
    retry_attempts: int = 10
    retry_backoff_min_ms: int = 100
    retry_backoff_max_ms: int = 10_000
    retry_max_total_ms: int = 300_000
    batch_size: int = 1000
    batch_pause_ms: int = 0
    batch_target_ms: int = 30
    batch_max_ms: int = 100
    max_batch_size: int = 100_000
    duty_cycle: float = 1.0
    min_duty_cycle: float = 0.75
    vacuum_every: float = 0.1
    max_parallel_maintenance_workers: int | None = 0
    source: str | None = dataclasses.field(default=None, compare=False)
    """The pyproject.toml the values came from (None: defaults)."""

    def __post_init__(self) -> None:
        if self.max_parallel_maintenance_workers == SERVER_VALUE:
            object.__setattr__(self, "max_parallel_maintenance_workers", None)
        for f in fields(self):
            if f.name == "source" or f.name in FRACTIONS:
                continue
            value = getattr(self, f.name)
            if value is None and f.name == "max_parallel_maintenance_workers":
                continue
            if isinstance(value, bool) or not isinstance(value, int) or value < 0:
                raise GuardError(f"alembic-guard setting {f.name} must be a non-negative integer, not {value!r}.",
                                 path=self.source)
        if self.retry_attempts < 1 or self.batch_size < 1 or self.max_batch_size < 1:
            raise GuardError("alembic-guard settings retry_attempts, batch_size and max_batch_size must be "
                             "at least 1.", path=self.source)
        for name in FRACTIONS:
            problem = fraction_error(name, getattr(self, name))
            if problem:
                raise GuardError(f"alembic-guard setting {problem}.", path=self.source)

    def override(self, **values: Any) -> Settings:
        """A copy with the non-None ``values`` replaced. Raises TypeError for an unknown name."""
        known = {f.name for f in fields(self)}
        unknown = sorted(set(values) - known)
        if unknown:
            raise TypeError(f"unknown alembic-guard setting(s): {', '.join(unknown)}; "
                            f"known: {', '.join(sorted(known - {'source'}))}")
        changes = {k: v for k, v in values.items() if v is not None}
        return dataclasses.replace(self, **changes) if changes else self


SETTING_NAMES = tuple(f.name for f in fields(Settings) if f.name != "source")


def parse_duration_ms(value: Any, key: str = "duration") -> int:
    """``1000`` / ``"1000"`` / ``"1000ms"`` / ``"1s"`` / ``"2min"`` / ``"1h"`` → milliseconds (int).

    Raises GuardError for anything else (negative, fractional ms, unknown unit).
    """
    if isinstance(value, bool):
        raise GuardError(f"{key} must be a duration, not {value!r}.")
    if isinstance(value, int):
        ms = value
    elif isinstance(value, str):
        text = value.strip().lower()
        number = text.rstrip("abcdefghijklmnopqrstuvwxyz ")
        unit = text[len(number):].strip() or "ms"
        if unit not in _UNITS_MS:
            raise GuardError(f"{key} = {value!r}: unknown unit {unit!r} (use ms, s, min or h).")
        try:
            amount = float(number)
        except ValueError:
            raise GuardError(f"{key} = {value!r} is not a duration like '500ms' or '2s'.") from None
        ms_float = amount * _UNITS_MS[unit]
        if ms_float != int(ms_float):
            raise GuardError(f"{key} = {value!r} is not a whole number of milliseconds.")
        ms = int(ms_float)
    else:
        raise GuardError(f"{key} must be a duration, not {value!r}.")
    if ms < 0:
        raise GuardError(f"{key} must not be negative ({value!r}).")
    return ms


def settings_from_table(table: dict[str, Any], source: str | None = None) -> Settings:
    """Build Settings from a ``[tool.alembic-guard]`` table, validated by the typed model of the whole
    table (config_model.GuardTable: an unknown key is an error). Raises GuardError naming ``source``."""
    from .config_model import validate_table

    return Settings(source=source, **validate_table(table, source).settings_values())


def find_pyproject(start: str | os.PathLike[str] | None = None) -> Path | None:
    """The first ``pyproject.toml`` with a ``[tool.alembic-guard]`` table at or above ``start``
    (default: the current directory), or None."""
    here = Path(start or os.getcwd()).resolve()
    if here.is_file():
        here = here.parent
    for directory in (here, *here.parents):
        candidate = directory / "pyproject.toml"
        if candidate.is_file() and TABLE in _read_toml(candidate, candidate.stat().st_mtime_ns).get("tool", {}):
            return candidate
    return None


@functools.lru_cache(maxsize=32)
def _read_toml(path: Path, mtime_ns: int) -> dict[str, Any]:
    try:
        with open(path, "rb") as fh:
            return tomllib.load(fh)
    except tomllib.TOMLDecodeError as exc:
        # tomllib's message ends with "(at line L, column C)"
        found = re.search(r"^(.*?)\s*\(at line (\d+), column (\d+)\)\s*$", str(exc))
        if found:
            reason, line, column = found.group(1), int(found.group(2)), int(found.group(3))
            raise GuardError(f"cannot parse this TOML file: {reason} (line {line}, column {column}).",
                             path=str(path), line=line, column=column) from None
        raise GuardError(f"cannot parse this TOML file: {exc}.", path=str(path)) from None


def load_settings(start: str | os.PathLike[str] | None = None) -> Settings:
    """Settings from the nearest ``pyproject.toml`` with ``[tool.alembic-guard]`` (see module doc),
    else the defaults. ``start`` is a directory or a file in it (e.g. ``alembic.ini``).
    Raises GuardError for malformed TOML or a bad value."""
    path = find_pyproject(start)
    if path is None:
        return Settings()
    table = _read_toml(path, path.stat().st_mtime_ns)["tool"][TABLE]
    return settings_from_table(table, source=str(path))
