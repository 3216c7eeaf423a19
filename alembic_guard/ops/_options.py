"""Which Settings an operation call runs with: its keyword arguments split into its own arguments
and Settings overrides, and the Settings of the project (pyproject.toml near alembic.ini)."""

from __future__ import annotations

from typing import Any

from ..settings import SETTING_NAMES, Settings, load_settings

#: per-call keyword names accepted by every operation, mapped to Settings fields
OPTION_ALIASES = {"attempts": "retry_attempts", "pause_ms": "batch_pause_ms"}


def split_options(kwargs: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    """Split an operation's keyword arguments into (its own arguments, Settings overrides)."""
    own, overrides = {}, {}
    for key, value in kwargs.items():
        name = OPTION_ALIASES.get(key, key)
        if name in SETTING_NAMES:
            overrides[name] = value
        else:
            own[key] = value
    return own, overrides


def settings_for_context(ctx: Any) -> Settings:
    """Settings from the pyproject.toml nearest to alembic.ini (or the current directory)."""
    start = None
    config = getattr(ctx, "config", None)
    if config is not None and getattr(config, "config_file_name", None):
        start = config.config_file_name
    return load_settings(start)
