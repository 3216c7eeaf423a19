"""The shadow cache cannot break: killed builds, corrupt clusters, full or unwritable disks, concurrent runs.

Every test has its own ``ALEMBIC_GUARD_CACHE`` under tmp_path and runs the real server binaries. Most
start from a copy of an already built template (``seeded``); only three build one cold (initdb): the
killed-first-build test, the corrupt-template test and the private-temp-dir fallback.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import psycopg
import pytest

from alembic_guard.errors import GuardError
from alembic_guard.shadow import cache, cluster
from alembic_guard.shadow.binaries import embedded_bindir, local_bindirs
from tests.projects.factory import make_project
from tests.test_cli import ROOT

BINDIR = embedded_bindir() or next(iter(local_bindirs()), None)
pytestmark = pytest.mark.skipif(BINDIR is None, reason="no PostgreSQL server binaries")

#: a run in a child process: start the shadow, print the template's build id, hold it for argv[1] s
CHILD = """
import json, os, shutil, sys, time
from pathlib import Path
from alembic_guard.shadow import cache, cluster
if os.environ.get("AG_TEST_SLOW_COPY"):  # a copy slow enough to be killed in the middle
    real = shutil.copytree
    def slow_copy(src, dst):
        time.sleep(0.01)
        return shutil.copy2(src, dst)
    def slow_tree(src, dst, *args, **kw):  # copytree recurses with positional arguments
        return real(src, dst, *args, **kw) if args else real(src, dst, copy_function=slow_copy, **kw)
    shutil.copytree = slow_tree
server = cluster.start_cluster(Path(sys.argv[2]), "local")
home = cache.Home.for_bindir(Path(sys.argv[2]))
print(json.dumps({"build": cache.read_marker(home.template)["build"], "host": server.host,
                  "pid": server.pid}), flush=True)
time.sleep(float(sys.argv[1]))
server.stop()
"""


def _child(seconds: float, **env) -> subprocess.Popen:
    full = {**os.environ, "PYTHONPATH": str(ROOT), **env}
    return subprocess.Popen([sys.executable, "-c", CHILD, str(seconds), str(BINDIR)], env=full, text=True,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)


def _alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as fh:
            return fh.read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


def _procs_mentioning(text: str) -> list[str]:
    """Command lines of live processes that mention ``text`` (a cache path: initdb -D, postgres -D)."""
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit() and int(entry.name) != os.getpid():
            try:
                cmd = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
            except OSError:
                continue
            if text in cmd and _alive(int(entry.name)):
                found.append(cmd)
    return found


def _databases(server) -> set[str]:
    with psycopg.connect(server.conninfo("postgres"), autocommit=True) as conn:
        return {name for (name,) in conn.execute("select datname from pg_database")}


def _assert_clean(root: Path, *servers) -> None:
    """No server, initdb or run dir left; the cache holds only the template, the warm cluster and locks."""
    for server in servers:
        assert not os.path.exists(server.host), "a run dir was left behind"
        assert server.pid and not _alive(server.pid), "a postmaster was left running"
    assert _procs_mentioning(str(root)) == []
    for home in (root / "clusters").glob("*"):
        assert {p.name for p in home.iterdir()} <= {"template", "data", "bindir.txt", "build.lock", "warm.lock"}


@pytest.fixture(scope="module")
def built_template() -> Path:
    """A complete template in the environment's own cache (the session shadow usually built it already)."""
    return cache.Home.for_bindir(BINDIR).ensure_template()


@pytest.fixture
def cache_dir(tmp_path, monkeypatch) -> Path:
    root = tmp_path / "cache"
    monkeypatch.setenv("ALEMBIC_GUARD_CACHE", str(root))
    return root


@pytest.fixture
def seeded(cache_dir, built_template) -> cache.Home:
    """A cache with a copy of a built template (no initdb)."""
    home = cache.Home.for_bindir(BINDIR)
    home.path.mkdir(parents=True)
    shutil.copytree(built_template, home.template, symlinks=True)
    (home.path / "bindir.txt").write_text(str(BINDIR.resolve()))
    return home


def test_warm_cluster_persists_and_a_concurrent_run_gets_a_private_copy(seeded, cache_dir):
    with cluster.start_cluster(BINDIR, "local") as warm:
        assert (seeded.data / cache.MARKER).exists()
        with psycopg.connect(warm.conninfo("postgres"), autocommit=True) as conn:
            conn.execute("CREATE DATABASE kept")
        with cluster.start_cluster(BINDIR, "local") as other:  # the warm lock is taken: a copy of the template
            assert "kept" not in _databases(other)
    with cluster.start_cluster(BINDIR, "local") as again:
        assert "kept" in _databases(again)
    _assert_clean(cache_dir, warm, other, again)


def _corrupt_pg_version(data: Path) -> None:
    (data / "PG_VERSION").write_text("7\n")


def _drop_pg_control(data: Path) -> None:
    (data / "global" / "pg_control").unlink()


def _drop_marker(data: Path) -> None:
    (data / cache.MARKER).unlink()


def _stale_pidfile(data: Path) -> None:
    dead = subprocess.Popen(["true"])
    dead.wait()
    (data / "postmaster.pid").write_text(f"{dead.pid}\n{data}\n{int(time.time())}\n5432\n\n\n")


@pytest.mark.parametrize("damage, discarded", [
    (_corrupt_pg_version, True),   # postgres refuses: "database files are incompatible with server"
    (_drop_pg_control, True),      # postgres exits: could not open file "global/pg_control"
    (_drop_marker, True),          # an interrupted copy: treated as absent
    (_stale_pidfile, False),       # postgres itself ignores a lock file whose process is gone
], ids=["bad-PG_VERSION", "missing-pg_control", "no-marker", "stale-postmaster.pid"])
def test_damaged_warm_cluster_is_recopied_from_the_template(seeded, cache_dir, damage, discarded):
    with cluster.start_cluster(BINDIR, "local") as first:
        with psycopg.connect(first.conninfo("postgres"), autocommit=True) as conn:
            conn.execute("CREATE DATABASE kept")
    damage(seeded.data)
    with cluster.start_cluster(BINDIR, "local") as second:
        assert ("kept" not in _databases(second)) == discarded
    assert cache.is_complete(seeded.data, BINDIR)
    _assert_clean(cache_dir, first, second)


def test_corrupt_template_is_rebuilt_once(seeded, cache_dir):
    before = cache.read_marker(seeded.template)["build"]
    _corrupt_pg_version(seeded.template)  # its marker is valid: only starting it shows the damage
    with cluster.start_cluster(BINDIR, "local") as server:
        assert "postgres" in _databases(server)
    after = cache.read_marker(seeded.template)["build"]
    assert after != before and cache.is_complete(seeded.template, BINDIR)
    _assert_clean(cache_dir, server)


def test_broken_binaries_are_one_paragraph_after_one_rebuild(seeded, cache_dir, monkeypatch):
    """When even a rebuilt template does not start, the error is a GuardError naming the server log."""
    _corrupt_pg_version(seeded.template)
    monkeypatch.setattr(cache.Home, "_build_template", lambda self: shutil.copytree(
        seeded.path / "bad", self.template, symlinks=True))
    shutil.copytree(seeded.template, seeded.path / "bad", symlinks=True)
    shutil.rmtree(seeded.path / "bad" / "global")
    with pytest.raises(GuardError) as info:
        cluster.start_cluster(BINDIR, "local")
    text = info.value.paragraph()
    assert "exited during start-up" in text and "rebuilt template" in text and "\n" not in text
    shutil.rmtree(seeded.path / "bad")
    _assert_clean(cache_dir)


def test_killed_first_build_then_two_concurrent_runs(cache_dir):
    """SIGKILL during initdb leaves a work dir and no initdb; the next two runs, started together,
    both succeed and build the template once between them."""
    child = _child(0, ALEMBIC_GUARD_CACHE=str(cache_dir))
    deadline = time.monotonic() + 60
    while not list(cache_dir.glob("clusters/*/initdb-*/data")) and time.monotonic() < deadline:
        assert child.poll() is None, child.communicate()
        time.sleep(0.01)
    child.send_signal(signal.SIGKILL)
    child.wait()
    assert list(cache_dir.glob("clusters/*/initdb-*")), "initdb finished before the kill"
    time.sleep(0.2)
    assert [c for c in _procs_mentioning(str(cache_dir)) if "initdb" in c] == []  # it died with us
    runs = [_child(0.5, ALEMBIC_GUARD_CACHE=str(cache_dir)) for _ in range(2)]
    outs = [r.communicate(timeout=120) for r in runs]
    assert [r.returncode for r in runs] == [0, 0], [err for _, err in outs]
    docs = [json.loads(out) for out, _ in outs]
    assert docs[0]["build"] == docs[1]["build"]  # one build: the other run waited for it
    assert docs[0]["host"] != docs[1]["host"]
    assert not list(cache_dir.glob("clusters/*/initdb-*"))
    _assert_clean(cache_dir)


def test_run_killed_while_its_warm_server_runs(seeded, cache_dir):
    """The postmaster of a SIGKILLed run gets SIGINT (PDEATHSIG); the next run waits for it to go,
    starts the same warm cluster and sweeps the dead run's dir."""
    child = _child(60, ALEMBIC_GUARD_CACHE=str(cache_dir))
    doc = json.loads(child.stdout.readline())
    with psycopg.connect(host=doc["host"], port=5432, user="postgres", dbname="postgres", autocommit=True) as conn:
        conn.execute("CREATE DATABASE kept")
    child.send_signal(signal.SIGKILL)
    child.wait()
    with cluster.start_cluster(BINDIR, "local") as server:
        assert "kept" in _databases(server)
        assert not _alive(doc["pid"]) and not os.path.exists(doc["host"])
    _assert_clean(cache_dir, server)


def test_killed_copy_of_the_warm_cluster_is_removed(seeded, cache_dir):
    """SIGKILL in the middle of copying the template to the warm cluster: the half copy is never taken
    for a cluster; the next run removes it and copies again."""
    child = _child(0, ALEMBIC_GUARD_CACHE=str(cache_dir), AG_TEST_SLOW_COPY="1")
    deadline = time.monotonic() + 60
    while not list(seeded.path.glob("data-*/data/base")) and time.monotonic() < deadline:
        assert child.poll() is None, child.communicate()
        time.sleep(0.01)
    child.send_signal(signal.SIGKILL)
    child.wait()
    assert list(seeded.path.glob("data-*")) and not seeded.data.exists()
    with cluster.start_cluster(BINDIR, "local") as server:
        assert "postgres" in _databases(server)
    assert not list(seeded.path.glob("data-*")) and cache.is_complete(seeded.data, BINDIR)
    _assert_clean(cache_dir, server)


def test_killed_postmaster_then_the_next_run_works(seeded, cache_dir):
    """The shadow itself SIGKILLed mid-run: the next run starts the warm cluster (crash recovery) or,
    if it will not start, a fresh copy."""
    with cluster.start_cluster(BINDIR, "local") as first:
        os.kill(first.pid, signal.SIGKILL)
    with cluster.start_cluster(BINDIR, "local") as second:
        assert "postgres" in _databases(second)
    _assert_clean(cache_dir, first, second)


# -- unusable cache directories -----------------------------------------------------------------

@pytest.fixture
def tiny_tmpfs():
    """A 1 MB tmpfs (a full disk for a 40 MB cluster); skipped where we may not mount."""
    where = Path(tempfile.mkdtemp(prefix="ag-tmpfs-"))
    r = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=1m", "tmpfs", str(where)], capture_output=True)
    if r.returncode != 0:
        where.rmdir()
        pytest.skip("cannot mount a tmpfs here")
    yield where
    subprocess.run(["umount", str(where)], check=True)
    where.rmdir()


@pytest.fixture
def readonly_dir():
    """A read-only tmpfs (root ignores permission bits: only a read-only mount stops it)."""
    where = Path(tempfile.mkdtemp(prefix="ag-ro-"))
    r = subprocess.run(["mount", "-t", "tmpfs", "-o", "ro,size=1m", "tmpfs", str(where)], capture_output=True)
    if r.returncode != 0:
        where.rmdir()
        pytest.skip("cannot mount a tmpfs here")
    yield where
    subprocess.run(["umount", str(where)], check=True)
    where.rmdir()


def _check(tmp_path, **env):
    ini = make_project(tmp_path / "proj", [("r1", 'op.create_table("t", sa.Column("id", sa.Integer, primary_key=True))')])
    full = {k: v for k, v in os.environ.items() if k not in ("ALEMBIC_GUARD_SHADOW_URL",)}
    full.update({"PYTHONPATH": str(ROOT), "ALEMBIC_GUARD_SHADOW": "local" if BINDIR in local_bindirs() else "embedded"},
                **env)
    return subprocess.run([sys.executable, "-m", "alembic_guard.cli", "check", "-c", str(ini)], capture_output=True,
                          text=True, env=full, timeout=180)


def _assert_one_paragraph(r, *needles):
    assert r.returncode == 2, (r.stdout, r.stderr)
    text = r.stderr.strip()
    assert "Traceback" not in text and len(text.splitlines()) == 1, text
    for needle in needles:
        assert needle in text, text


def test_explicit_cache_under_a_file_is_exit_2(tmp_path):
    (tmp_path / "file").write_text("")
    root = tmp_path / "file" / "cache"
    r = _check(tmp_path, ALEMBIC_GUARD_CACHE=str(root))
    _assert_one_paragraph(r, str(root), "ALEMBIC_GUARD_CACHE", "Not a directory")


def test_explicit_readonly_cache_is_exit_2_and_nothing_left(tmp_path, readonly_dir):
    r = _check(tmp_path, ALEMBIC_GUARD_CACHE=str(readonly_dir / "cache"))
    _assert_one_paragraph(r, str(readonly_dir), "Read-only file system", "ALEMBIC_GUARD_CACHE")
    assert os.listdir(readonly_dir) == []


def test_explicit_full_cache_is_exit_2_and_nothing_left(tmp_path, tiny_tmpfs):
    r = _check(tmp_path, ALEMBIC_GUARD_CACHE=str(tiny_tmpfs / "cache"))
    _assert_one_paragraph(r, str(tiny_tmpfs), "No space left on device", "ALEMBIC_GUARD_CACHE")
    assert os.listdir(tiny_tmpfs) == []
    assert _procs_mentioning(str(tiny_tmpfs)) == []


def test_full_default_cache_falls_back_to_a_private_temp_dir(tiny_tmpfs, monkeypatch, capsys):
    """With the default location full the check still runs, from a temp dir removed afterwards, and
    says so once on stderr."""
    monkeypatch.delenv("ALEMBIC_GUARD_CACHE", raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tiny_tmpfs))
    monkeypatch.setattr(cluster, "_noted", False)
    assert cache.cache_root() == tiny_tmpfs / "alembic-guard"  # platformdirs follows XDG on Linux
    with cluster.start_cluster(BINDIR, "local") as server:
        assert "postgres" in _databases(server)
        assert Path(server.host, "cache").is_dir()
    err = capsys.readouterr().err
    assert err.count("alembic-guard: note:") == 1 and str(tiny_tmpfs) in err and "ALEMBIC_GUARD_CACHE" in err
    assert os.listdir(tiny_tmpfs) == []
    _assert_clean(tiny_tmpfs, server)


def test_full_default_cache_and_full_temp_dir_is_one_paragraph(tiny_tmpfs, monkeypatch, capsys):
    monkeypatch.delenv("ALEMBIC_GUARD_CACHE", raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tiny_tmpfs))
    monkeypatch.setenv("TMPDIR", str(tiny_tmpfs))
    monkeypatch.setattr(tempfile, "tempdir", None)  # re-read TMPDIR
    try:
        with pytest.raises(GuardError) as info:
            cluster.start_cluster(BINDIR, "local")
    finally:
        tempfile.tempdir = None
    text = info.value.paragraph()
    assert "neither the cache directory" in text and "No space left on device" in text and "\n" not in text
    assert os.listdir(tiny_tmpfs) == [] and _procs_mentioning(str(tiny_tmpfs)) == []


def test_stage_dirs_of_killed_builds_are_swept(tmp_path):
    """A first build killed with SIGKILL leaves its initdb stage dir in /tmp: the next build removes
    it (and an older release's unnamed ones after an hour), never one of a build still running."""
    import os
    import subprocess
    import time

    from alembic_guard.shadow.cache import STAGE_PREFIX, _sweep_stages

    gone = subprocess.Popen(["true"])
    gone.wait()
    dead = tmp_path / f"{STAGE_PREFIX}{gone.pid}-abc"
    alive = tmp_path / f"{STAGE_PREFIX}{os.getpid()}-def"
    old, new = tmp_path / f"{STAGE_PREFIX}x1y2z3", tmp_path / f"{STAGE_PREFIX}q9w8e7"
    for d in (dead, alive, old, new):
        (d / "mnt").mkdir(parents=True)
    os.utime(old, (time.time() - 7200, time.time() - 7200))
    _sweep_stages(tmp_path)
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted([alive.name, new.name])
