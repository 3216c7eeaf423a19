"""The analyzer's own keys in ``[tool.alembic-guard]`` (the safe operations' keys live in settings.py).

```toml
[tool.alembic-guard]
disable = ["rename-column"]                 # rules not run
fail-on = "warning"                         # default of --fail-on
fail-on-unknown = true                      # a revision with a statement the trace did not see fails
severity = { "drop-column" = "warning" }    # per-rule severity
stats-file = "migrations/prod-stats.json"   # production table sizes (alembic-guard stats)
```
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from .errors import GuardError
from .model import SEVERITIES
from .settings import TABLE, _read_toml, find_pyproject


@dataclass
class CheckConfig:
    disable: list[str] = field(default_factory=list)
    fail_on: str | None = None
    fail_on_unknown: bool | None = None
    severity: dict[str, str] = field(default_factory=dict)
    stats_file: str | None = None  # relative to the pyproject.toml
    source: str | None = None


def load_check_config(start: str | Path | None) -> CheckConfig:
    """Read the nearest ``[tool.alembic-guard]`` at or above ``start``. Raises GuardError on bad values."""
    path = find_pyproject(start)
    if path is None:
        return CheckConfig()
    table = _read_toml(path, path.stat().st_mtime_ns)["tool"][TABLE]
    cfg = CheckConfig(source=str(path))
    disable = table.get("disable", [])
    if not isinstance(disable, list) or not all(isinstance(x, str) for x in disable):
        raise GuardError(f"[tool.{TABLE}] disable must be a list of rule ids.", path=str(path))
    cfg.disable = disable
    fail_on = table.get("fail-on", table.get("fail_on"))
    if fail_on is not None and fail_on not in (*SEVERITIES, "never"):
        raise GuardError(f"[tool.{TABLE}] fail-on must be one of error, warning, info, never.", path=str(path))
    cfg.fail_on = fail_on
    unknown = table.get("fail-on-unknown", table.get("fail_on_unknown"))
    if unknown is not None and not isinstance(unknown, bool):
        raise GuardError(f"[tool.{TABLE}] fail-on-unknown must be true or false.", path=str(path))
    cfg.fail_on_unknown = unknown
    severity = table.get("severity", {})
    if not isinstance(severity, dict) or not all(v in SEVERITIES for v in severity.values()):
        raise GuardError(f"[tool.{TABLE}] severity must map rule ids to error, warning or info.", path=str(path))
    cfg.severity = dict(severity)
    stats_file = table.get("stats-file", table.get("stats_file"))
    if stats_file is not None:
        cfg.stats_file = str((path.parent / str(stats_file)).resolve())
    return cfg
