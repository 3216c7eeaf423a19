"""The typed model of the ``[tool.alembic-guard]`` table in ``pyproject.toml`` (pydantic).

One table holds the analyzer's keys (check_config.py: ``disable``, ``fail-on``, ``fail-on-unknown``,
``severity``, ``stats-file``) and the safe operations' settings (settings.py: ``lock_timeout`` …).
Every key is known here: an unknown one is an error with a did-you-mean, naming the file.
Durations (``*_ms``, or the same name without ``_ms``) accept PostgreSQL-style strings ("2s").
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import (AliasChoices, BaseModel, BeforeValidator, ConfigDict, Field, StrictBool, StrictInt,
                      StrictStr, ValidationError, ValidationInfo, model_validator)

from .errors import GuardError, did_you_mean

TABLE = "alembic-guard"

Severity = Literal["error", "warning", "info"]


def _duration(value: Any, info: ValidationInfo) -> int:
    from .settings import parse_duration_ms

    try:
        return parse_duration_ms(value, info.field_name or "duration")
    except GuardError as err:
        raise ValueError(err.message) from None


Duration = Annotated[int, BeforeValidator(_duration)]
Count = Annotated[StrictInt, Field(ge=0)]
AtLeastOne = Annotated[StrictInt, Field(ge=1)]


def _fraction(value: Any, info: ValidationInfo) -> float:
    from .settings import fraction_error

    problem = fraction_error(info.field_name or "fraction", value)
    if problem:
        raise ValueError(problem)
    return float(value)


#: duty_cycle, min_duty_cycle, vacuum_every: checked as the Python API checks them (settings.FRACTIONS)
Fraction = Annotated[float, BeforeValidator(_fraction)]


def _workers(value: Any) -> Any:
    if value == "server" or (isinstance(value, int) and not isinstance(value, bool) and value >= 0):
        return value
    raise ValueError(f"max_parallel_maintenance_workers must be a non-negative integer or \"server\", not {value!r}")


Workers = Annotated[Any, BeforeValidator(_workers)]


def _alias(name: str) -> Any:
    """``fail-on`` and ``fail_on`` are both accepted."""
    return Field(None, validation_alias=AliasChoices(name.replace("_", "-"), name))


class GuardTable(BaseModel):
    """``[tool.alembic-guard]``. Values None are "not set" (the defaults apply)."""

    model_config = ConfigDict(extra="forbid")

    # the analyzer (check_config.py)
    disable: list[StrictStr] | None = None
    fail_on: Literal["error", "warning", "info", "never"] | None = _alias("fail_on")
    fail_on_unknown: StrictBool | None = _alias("fail_on_unknown")
    severity: dict[str, Severity] | None = None
    stats_file: StrictStr | None = _alias("stats_file")
    # the PostgreSQL major version production runs: the shadow is a server of that major
    target_version: Annotated[StrictInt, Field(ge=10, le=30)] | None = _alias("target_version")
    # run each revision's downgrade on the shadow (capture/downgrade.py): true, false or "auto"
    check_downgrades: StrictBool | Literal["auto"] | None = _alias("check_downgrades")
    # roles production has from outside the migrations: created on the shadow (shadow/roles.py)
    production_roles: list[Annotated[StrictStr, Field(min_length=1, max_length=63)]] | None = \
        _alias("production_roles")

    # the safe operations (settings.py): each duration as NAME_ms or NAME
    lock_timeout_ms: Duration | None = None
    lock_timeout: Duration | None = None
    statement_timeout_ms: Duration | None = None
    statement_timeout: Duration | None = None
    concurrent_lock_timeout_ms: Duration | None = None
    concurrent_lock_timeout: Duration | None = None
    concurrent_statement_timeout_ms: Duration | None = None
    concurrent_statement_timeout: Duration | None = None
    retry_attempts: AtLeastOne | None = None
    retry_backoff_min_ms: Duration | None = None
    retry_backoff_min: Duration | None = None
    retry_backoff_max_ms: Duration | None = None
    retry_backoff_max: Duration | None = None
    retry_max_total_ms: Duration | None = None
    retry_max_total: Duration | None = None
    batch_size: AtLeastOne | None = None
    batch_pause_ms: Duration | None = None
    batch_pause: Duration | None = None
    batch_target_ms: Duration | None = None
    batch_target: Duration | None = None
    batch_max_ms: Duration | None = None
    batch_max: Duration | None = None
    max_batch_size: AtLeastOne | None = None
    duty_cycle: Fraction | None = None
    min_duty_cycle: Fraction | None = None
    vacuum_every: Fraction | None = None
    max_parallel_maintenance_workers: Workers | None = None

    @model_validator(mode="after")
    def _one_spelling(self) -> GuardTable:
        for name in type(self).model_fields:
            if name.endswith("_ms") and getattr(self, name) is not None and getattr(self, name[:-3]) is not None:
                raise ValueError(f"both {name} and {name[:-3]} are set; keep one")
        return self

    def settings_values(self) -> dict[str, Any]:
        """The safe operations' values that are set, by their ``*_ms`` / plain Settings names."""
        from .settings import SETTING_NAMES

        out = {}
        for name in SETTING_NAMES:
            value = getattr(self, name)
            if value is None and name.endswith("_ms"):
                value = getattr(self, name[:-3])
            if value is not None:
                out[name] = value
        return out


def known_keys() -> list[str]:
    """Every key the table accepts, as written in TOML."""
    out = []
    for name, f in GuardTable.model_fields.items():
        alias = f.validation_alias
        out += list(alias.choices) if isinstance(alias, AliasChoices) else [name]
    return out


def validate_table(table: Any, source: str | None = None) -> GuardTable:
    """The model of a ``[tool.alembic-guard]`` table. Raises one GuardError naming ``source`` and every
    problem (unknown keys with a did-you-mean, wrong types, bad durations)."""
    if not isinstance(table, dict):
        raise GuardError(f"[tool.{TABLE}] must be a table.", path=source)
    try:
        return GuardTable.model_validate(table)
    except ValidationError as exc:
        problems = [_problem(e, table) for e in exc.errors()]
        raise GuardError(f"[tool.{TABLE}]: " + "; ".join(problems) + ".", path=source) from None


def _key_as_written(field_name: str, table: dict) -> str:
    f = GuardTable.model_fields.get(field_name)
    alias = f.validation_alias if f else None
    if isinstance(alias, AliasChoices):
        return next((c for c in alias.choices if c in table), field_name)
    return field_name


def _problem(err: dict, table: dict) -> str:
    loc = err.get("loc") or ()
    if not loc:  # a model-level check (both spellings of a duration)
        return err["msg"].removeprefix("Value error, ")
    key = _key_as_written(str(loc[0]), table)
    where = key + "".join(f"[{part!r}]" if isinstance(part, str) else f"[{part}]" for part in loc[1:])
    kind = err["type"]
    value = err.get("input")
    if kind == "extra_forbidden":
        return f"unknown key {key!r}{did_you_mean(key, known_keys())}"
    if kind == "value_error":
        return err["msg"].removeprefix("Value error, ")
    if kind in ("int_type", "int_parsing"):
        return f"{where} must be an integer, not {value!r}"
    if kind == "greater_than_equal":
        return f"{where} must be at least {err['ctx']['ge']}, not {value!r}"
    if kind == "less_than_equal":
        return f"{where} must be at most {err['ctx']['le']}, not {value!r}"
    if kind == "bool_type":
        return f"{where} must be true or false, not {value!r}"
    if kind == "literal_error":
        return f"{where} must be one of {err['ctx']['expected']}, not {value!r}"
    if kind in ("list_type", "dict_type", "string_type"):
        what = {"list_type": "a list", "dict_type": "a table", "string_type": "a string"}[kind]
        return f"{where} must be {what}, not {value!r}"
    return f"{where}: {err['msg']}"
