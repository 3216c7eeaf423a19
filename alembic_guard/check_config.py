"""The analyzer's own keys in ``[tool.alembic-guard]`` (the safe operations' keys live in settings.py).

```toml
[tool.alembic-guard]
disable = ["rename-column"]                 # rules not run
fail-on = "warning"                         # default of --fail-on
fail-on-unknown = true                      # a revision with a statement the trace did not see fails
severity = { "drop-column" = "warning" }    # per-rule severity
stats-file = "migrations/prod-stats.json"   # production table sizes (alembic-guard stats)
target-version = 16                         # the PostgreSQL major production runs (the shadow's major)
check-downgrades = "auto"                   # run downgrades on the shadow: true, false, "auto" (capture/downgrade.py)
production-roles = ["readonly"]             # roles production has outside the migrations (shadow/roles.py)
```
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

from .errors import GuardError, did_you_mean
from .settings import TABLE, _read_toml, find_pyproject


@dataclass
class CheckConfig:
    disable: list[str] = field(default_factory=list)
    fail_on: str | None = None
    fail_on_unknown: bool | None = None
    severity: dict[str, str] = field(default_factory=dict)
    stats_file: str | None = None  # relative to the pyproject.toml
    target_version: int | None = None  # PostgreSQL major version of production
    check_downgrades: bool | str = "auto"  # True, False or "auto" (capture/downgrade.revisions_to_check)
    production_roles: list[str] = field(default_factory=list)  # made on the shadow first (shadow/roles.py)
    source: str | None = None


def rule_ids() -> list[str]:
    """Every id a project may name: the rules, plus the judge's own "revision-fails" and
    "suppression-without-reason"."""
    from .judge import REVISION_FAILS, SUPPRESSION_WITHOUT_REASON
    from .rules import all_rules

    return sorted({r.id for r in all_rules()} | {REVISION_FAILS, SUPPRESSION_WITHOUT_REASON})


def check_rule_ids(ids: Iterable[str], where: str, *, path: str | None = None, line: int | None = None) -> None:
    """Raise GuardError for the first id that names no rule, with a did-you-mean. ``where`` says
    where the id was written (``--disable``, ``[tool.alembic-guard] severity`` …)."""
    known = rule_ids()
    for rule_id in ids:
        if rule_id not in known:
            raise GuardError(f"{where} names an unknown rule {rule_id!r}{did_you_mean(rule_id, known)}.",
                             path=path, line=line,
                             hint="`alembic-guard rules` lists every rule id.")


def check_suppressions(version_dirs: Iterable[Path]) -> None:
    """Raise GuardError (file and line) for an inline suppression comment in a revision file of
    ``version_dirs`` that names an unknown rule id. The files are tokenized, not imported."""
    from .suppress import suppressions_in

    known = set(rule_ids())
    for directory in version_dirs:
        for path in sorted(Path(directory).rglob("*.py")):
            for line, ids in suppressions_in(str(path)):
                bad = sorted(ids - known - {"*"})
                if bad:
                    check_rule_ids(bad, "the suppression comment", path=str(path), line=line)


def load_check_config(start: str | Path | None) -> CheckConfig:
    """Read the nearest ``[tool.alembic-guard]`` at or above ``start``. Raises GuardError on an
    unknown key, a bad value or an unknown rule id (validated by config_model.GuardTable)."""
    path = find_pyproject(start)
    if path is None:
        return CheckConfig()
    from .config_model import validate_table  # pydantic: only for a project that has the table

    table = validate_table(_read_toml(path, path.stat().st_mtime_ns)["tool"][TABLE], str(path))
    check_rule_ids(table.disable or (), f"[tool.{TABLE}] disable", path=str(path))
    check_rule_ids(table.severity or {}, f"[tool.{TABLE}] severity", path=str(path))
    cfg = CheckConfig(source=str(path), disable=list(table.disable or []), fail_on=table.fail_on,
                      fail_on_unknown=table.fail_on_unknown, severity=dict(table.severity or {}),
                      target_version=table.target_version,
                      check_downgrades="auto" if table.check_downgrades is None else table.check_downgrades,
                      production_roles=list(dict.fromkeys(table.production_roles or [])))
    if table.stats_file is not None:
        cfg.stats_file = str((path.parent / table.stats_file).resolve())
    return cfg


def target_version(config_file: str | Path, given: int | None = None) -> int | None:
    """The PostgreSQL major the shadow must run: ``given`` (``--target-version``), else
    ``[tool.alembic-guard] target-version`` of the project of ``config_file``, else None (any)."""
    if given:
        return given
    return load_check_config(Path(config_file).resolve().parent).target_version
