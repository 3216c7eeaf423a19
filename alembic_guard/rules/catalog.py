"""Imports every rule module so that each registers itself (one file per rule)."""

from . import (  # noqa: F401
    create_index_non_concurrent,
)
