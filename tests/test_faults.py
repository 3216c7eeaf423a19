"""Infrastructure failures: each is one paragraph on stderr, exit 2, no traceback, no password, no
postgres process and no temp dir left behind, and the next run works.

Every CLI run gets its own short TMPDIR, so "nothing left behind" is measured on what this run
made: no live postgres whose command line names that directory, no ``alembic-guard-*`` dir in it.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import psycopg
import pytest

from alembic_guard.shadow import scratch
from tests.conftest import test_provider
from tests.projects.factory import make_project
from tests.test_cli import ROOT

KILL_POSTMASTER = """
import os, signal
backend = op.get_bind().exec_driver_sql("select pg_backend_pid()").scalar()
postmaster = int(open(f"/proc/{backend}/stat").read().rsplit(")", 1)[1].split()[1])
os.kill(postmaster, signal.SIGKILL)
op.execute("SELECT pg_sleep(0.5)")
"""


def live_postgres_naming(text: str) -> list[int]:
    """Pids of running (not zombie) processes whose command line contains ``text``."""
    pids = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            cmdline = Path(f"/proc/{entry}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
            state = Path(f"/proc/{entry}/stat").read_text().rsplit(")", 1)[1].split()[0]
        except (OSError, IndexError):
            continue
        if "postgres" in cmdline and text in cmdline and state not in ("Z", "X"):
            pids.append(int(entry))
    return pids


class Run:
    """One CLI run in a private TMPDIR; ``leftovers()`` lists what it left there."""

    def __init__(self, args, env=None, timeout=180):
        self.tmp = Path(tempfile.mkdtemp(prefix="agf-", dir="/tmp"))  # short: unix socket paths ≤ 107 bytes
        self.tmp.chmod(0o755)  # as root the server (nobody) must reach it, else run dirs go to /tmp itself
        full = {k: v for k, v in os.environ.items() if k not in ("NO_COLOR", "FORCE_COLOR")}
        full["PYTHONPATH"] = os.pathsep.join([str(ROOT), *filter(None, [os.environ.get("PYTHONPATH")])])
        full["TMPDIR"] = str(self.tmp)
        if test_provider():
            full.setdefault("ALEMBIC_GUARD_SHADOW", test_provider())
        full.update(env or {})
        try:
            r = subprocess.run([sys.executable, "-m", "alembic_guard.cli", *args], capture_output=True, text=True,
                               env=full, timeout=timeout)
            self.returncode, self.stdout, self.stderr = r.returncode, r.stdout, r.stderr
            self.left = [p.name for p in self.tmp.iterdir() if p.name.startswith(("alembic-guard-", "initdb-"))]
            self.processes = live_postgres_naming(str(self.tmp))
        finally:
            shutil.rmtree(self.tmp, ignore_errors=True)

    def assert_failure_paragraph(self, *needles: str, secret: str | None = None) -> str:
        """Exit 2, one ``alembic-guard:`` paragraph on stderr containing ``needles``, no traceback,
        nothing on stdout, nothing left behind, ``secret`` nowhere."""
        assert self.returncode == 2, (self.returncode, self.stderr)
        assert "Traceback" not in self.stderr, self.stderr
        lines = [ln for ln in self.stderr.splitlines() if ln.strip()]
        assert len(lines) == 1 and lines[0].startswith("alembic-guard: "), self.stderr
        for needle in needles:
            assert needle in lines[0], (needle, lines[0])
        if secret:
            assert secret not in self.stdout + self.stderr
        assert not self.left, f"temp dirs left behind: {self.left}"
        assert not self.processes, f"postgres left running: {self.processes}"
        return lines[0]


def project(tmp_path: Path, revisions) -> Path:
    return make_project(tmp_path, revisions, env="ini_no_logging")


GOOD = [("r1", 'op.execute("CREATE TABLE t (id int)")'), ("r2", 'op.execute("SELECT 1")')]


# -- URLs ------------------------------------------------------------------------------------

def test_shadow_url_with_a_port_that_is_no_number(tmp_path):
    run = Run(["check", "-c", str(project(tmp_path, GOOD)),
               "--shadow-url", "postgresql://me:Sekr1t-pw@127.0.0.1:abc/postgres"])
    run.assert_failure_paragraph("port 'abc'", "not a number", secret="Sekr1t-pw")


def test_shadow_url_to_a_closed_port(tmp_path):
    run = Run(["check", "-c", str(project(tmp_path, GOOD)),
               "--shadow-url", "host=127.0.0.1 port=1 user=me password=Sekr1t-pw dbname=postgres"])
    run.assert_failure_paragraph("cannot connect to the shadow PostgreSQL", "me@127.0.0.1:1/postgres",
                                 secret="Sekr1t-pw")


def test_shadow_url_as_libpq_key_value_string_is_used(tmp_path, shadow):
    conninfo = f"host={shadow.host} port={shadow.port} user={shadow.user} dbname=postgres"
    run = Run(["check", "-c", str(project(tmp_path, GOOD)), "--shadow-url", conninfo, "-f", "json"])
    assert run.returncode == 0, run.stderr
    assert "url" in json.dumps(json.loads(run.stdout)["shadow"])
    assert not run.left and not run.processes


@pytest.mark.parametrize("form", ["service=ag_shadow", "postgresql://?service=ag_shadow", "PGSERVICE"])
def test_shadow_url_naming_a_connection_service_uses_it(tmp_path, shadow, form):
    services = tmp_path / "pg_service.conf"
    services.write_text(f"[ag_shadow]\nhost={shadow.host}\nport={shadow.port}\nuser={shadow.user}\ndbname=postgres\n")
    env = {"PGSERVICEFILE": str(services), **({"PGSERVICE": "ag_shadow"} if form == "PGSERVICE" else {})}
    url = "dbname=postgres" if form == "PGSERVICE" else form
    run = Run(["check", "-c", str(project(tmp_path, GOOD)), "--shadow-url", url, "-f", "json"], env=env)
    assert run.returncode == 0, run.stderr
    assert json.loads(run.stdout)["shadow"]["provider"] == "url"
    missing = Run(["check", "-c", str(project(tmp_path / "b", GOOD)), "--shadow-url", "service=ag_none"], env=env)
    missing.assert_failure_paragraph("service", "ag_none")


def test_scratch_databases_of_a_killed_run_on_a_shared_shadow_are_dropped_by_the_next_run(tmp_path, shadow):
    """SIGKILL runs no cleanup: the next run against the same --shadow-url drops what the dead one
    left (its backend still inside pg_sleep), and leaves a live run's and a foreign database alone."""
    conninfo = f"host={shadow.host} port={shadow.port} user={shadow.user} dbname=postgres"

    def ours() -> dict[str, str | None]:
        with psycopg.connect(shadow.conninfo("postgres"), autocommit=True) as c:
            return dict(c.execute("select datname, shobj_description(oid, 'pg_database') from pg_database "
                                  "where datname like 'ag\\_%'").fetchall())

    before = set(ours())
    with psycopg.connect(shadow.conninfo("postgres"), autocommit=True) as c:
        c.execute("CREATE DATABASE ag_not_marked")  # someone else's, or made before owner marks
    ini = project(tmp_path / "a", [("r1", 'op.execute("SELECT pg_sleep(60)")')])
    env = {k: v for k, v in os.environ.items() if k != "ALEMBIC_GUARD_SHADOW"}
    env["PYTHONPATH"] = str(ROOT)
    killed = subprocess.Popen([sys.executable, "-m", "alembic_guard.cli", "check", "-c", str(ini), "--no-cache",
                               "--shadow-url", conninfo], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        left = set()
        for _ in range(300):
            left = {n for n, comment in ours().items() if n not in before and f'"pid": {killed.pid},' in (comment or "")}
            if left:
                break
            time.sleep(0.1)
        assert left, "the run made no marked scratch database"
        time.sleep(0.5)  # inside its revision now
    finally:
        killed.kill()
        killed.wait()
    live = scratch.create_database(shadow)  # this process's: alive, so kept
    try:
        run = Run(["check", "-c", str(project(tmp_path / "b", GOOD)), "--shadow-url", conninfo])
        assert run.returncode == 0, run.stderr
        remaining = set(ours())
        assert not left & remaining, f"the killed run's scratch databases are still there: {left & remaining}"
        assert {"ag_not_marked", live} <= remaining
    finally:
        scratch.drop_database(shadow, live)
        scratch.drop_database(shadow, "ag_not_marked")


# -- the shadow role may not CREATE DATABASE -----------------------------------------------------

def test_shadow_role_without_createdb(tmp_path, shadow):
    role = "ag_no_createdb"
    with psycopg.connect(shadow.conninfo("postgres"), autocommit=True) as c:
        c.execute(f"DROP ROLE IF EXISTS {role}")
        c.execute(f"CREATE ROLE {role} LOGIN NOCREATEDB")
    try:
        run = Run(["check", "-c", str(project(tmp_path, GOOD)), "--shadow-url",
                   f"host={shadow.host} port={shadow.port} user={role} dbname=postgres"])
        run.assert_failure_paragraph(f"role '{role}'", "CREATEDB", f"ALTER ROLE {role} CREATEDB")
    finally:
        with psycopg.connect(shadow.conninfo("postgres"), autocommit=True) as c:
            c.execute(f"DROP ROLE IF EXISTS {role}")


# -- the shadow server dies mid-check --------------------------------------------------------------

def test_shadow_killed_during_a_revision_then_the_next_run_works(tmp_path):
    ini = project(tmp_path / "a", [("r1", 'op.execute("CREATE TABLE t (id int)")'), ("r2", KILL_POSTMASTER),
                                   ("r3", 'op.execute("SELECT 2")')])
    run = Run(["check", "-c", str(ini)])
    text = run.assert_failure_paragraph("stopped during revision r2", "r2.py", "Revisions traced before it: r1",
                                        "no verdict is reported")
    assert "r3" not in text.split("stopped during")[1].split("The server log")[0]
    again = Run(["check", "-c", str(project(tmp_path / "b", GOOD))])
    assert again.returncode == 0, again.stderr
    assert not again.left and not again.processes


def test_connection_ended_by_the_server_mid_revision_is_exit_2_not_a_finding(tmp_path):
    # what an administrator's pg_terminate_backend (or a watchdog) does to the migration's session:
    # the server lives on, the revision is not at fault (SQLSTATE 57P01)
    ini = project(tmp_path / "a", [("r1", 'op.execute("CREATE TABLE t (id int)")'),
                                   ("r2", 'op.execute("SELECT pg_terminate_backend(pg_backend_pid())")'),
                                   ("r3", 'op.execute("SELECT 2")')])
    run = Run(["check", "-c", str(ini), "--fail-on", "never"])
    run.assert_failure_paragraph("ended the migration's connection", "during revision r2",
                                 "Revisions traced before it: r1", "no verdict is reported")
    again = Run(["check", "-c", str(project(tmp_path / "b", GOOD))])
    assert again.returncode == 0, again.stderr


# -- a revision that raises ------------------------------------------------------------------------

def test_a_revision_that_raises_is_a_finding_naming_file_and_line_and_the_others_are_reported(tmp_path):
    """exit_policy: a revision that fails on the empty shadow fails the same way in production, so it is
    the finding ``revision-fails`` (exit 1), not an infrastructure error; the rest is still traced."""
    ini = project(tmp_path, [("r1", 'op.execute("CREATE TABLE t (id int)")'), ("r2", 'raise ValueError("boom")'),
                             ("r3", 'op.execute("SELECT 1/0")'), ("r4", 'op.execute("SELECT 2")')])
    run = Run(["check", "-c", str(ini), "-f", "json"])
    assert run.returncode == 1, run.stderr
    assert "Traceback" not in run.stderr and not run.left and not run.processes
    revs = {r["revision"]: r for r in json.loads(run.stdout)["revisions"]}
    assert set(revs) == {"r1", "r2", "r3", "r4"}
    for rev_id, message in (("r2", "boom"), ("r3", "division by zero")):
        rev = revs[rev_id]
        (failure,) = [f for f in rev["findings"] if f["rule"] == "revision-fails"]
        assert message in failure["message"] and failure["line"] == 16  # the line of upgrade()'s body
        assert rev["path"].endswith(f"{rev_id}.py") and rev["verdict"] == "error"
    assert revs["r1"]["verdict"] != "error" and revs["r4"]["verdict"] != "error"


# -- files -----------------------------------------------------------------------------------------

def test_empty_versions_directory(tmp_path):
    ini = project(tmp_path, [])
    run = Run(["check", "-c", str(ini)])
    run.assert_failure_paragraph("no revision script in", "nothing to check")
    shutil.rmtree(tmp_path / "migrations" / "versions")
    run = Run(["check", "-c", str(ini)])
    run.assert_failure_paragraph("does not exist", "nothing to check")


def test_two_files_with_one_revision_id_name_both_files(tmp_path):
    """Alembic only warns and keeps one of them: ``upgrade`` would skip the other without an error."""
    ini = project(tmp_path, GOOD)
    versions = tmp_path / "migrations" / "versions"
    shutil.copy(versions / "r1.py", versions / "r1_copy.py")
    run = Run(["check", "-c", str(ini)])
    text = run.assert_failure_paragraph("revision r1 is defined by 2 files", "r1.py", "r1_copy.py")
    assert "UserWarning" not in run.stderr and ".py:9: " in text  # the line of `revision = ...`


def test_an_unknown_down_revision_names_the_file_and_line(tmp_path):
    ini = project(tmp_path, [*GOOD, ("r3", 'op.execute("SELECT 3")', "r_gone")])
    run = Run(["check", "-c", str(ini)])
    text = run.assert_failure_paragraph("r3.py:10: ", "revision r3 names down_revision 'r_gone'",
                                        "no revision file defines")
    assert "KeyError" not in text and "UserWarning" not in run.stderr


@pytest.mark.parametrize("args, needles", [
    (["check", "--fail-on", "bogus"], ["Invalid value for '--fail-on'", "`alembic-guard check --help`"]),
    (["check", "-o", "/tmp"], ["'/tmp' is a directory"]),
    (["chek"], ["No such command 'chek'", "`alembic-guard --help`"]),
    (["fix"], ["Missing argument 'REV...'", "`alembic-guard fix --help`"]),
])
def test_a_bad_option_is_one_paragraph_not_a_usage_block(args, needles):
    Run(args, timeout=60).assert_failure_paragraph(*needles)


def test_config_naming_a_directory_says_so_and_names_the_file_inside(tmp_path):
    ini = project(tmp_path, GOOD)
    Run(["check", "-c", str(ini.parent)], timeout=60).assert_failure_paragraph(
        "is a directory, not an Alembic config file", f"Pass -c {ini}")


def test_revision_into_an_unwritable_versions_directory_names_that_directory(tmp_path):
    ini = project(tmp_path, GOOD)
    versions = tmp_path / "migrations" / "versions"
    (tmp_path / "migrations" / "script.py.mako").write_text((ROOT / "examples/shop/migrations/script.py.mako").read_text())
    if not _make_unwritable(versions):
        pytest.skip("cannot make a directory unwritable here")
    try:
        text = Run(["revision", "-c", str(ini), "-m", "more", "--empty"]).assert_failure_paragraph(
            "cannot write the new revision file", str(versions))
        assert "site-packages" not in text
    finally:
        _make_writable(versions)
    assert sorted(p.name for p in versions.iterdir()) == ["r1.py", "r2.py"]


def _make_unwritable(path: Path) -> bool:
    """Make ``path`` unwritable even for root (chattr +i), else read-only; False if impossible."""
    if os.geteuid() != 0:
        path.chmod(0o555 if path.is_dir() else 0o444)
        return True
    return shutil.which("chattr") is not None and subprocess.run(["chattr", "+i", str(path)],
                                                                   capture_output=True).returncode == 0


def _make_writable(path: Path) -> None:
    if os.geteuid() == 0:
        subprocess.run(["chattr", "-i", str(path)], capture_output=True)
    path.chmod(0o755 if path.is_dir() else 0o644)


def test_fix_write_to_an_unwritable_revision_changes_no_file(tmp_path):
    ini = project(tmp_path, [("r1", 'op.execute("CREATE TABLE t (id int)")'),
                             ("r2", 'op.create_index("ix_t", "t", ["id"])')])
    target = tmp_path / "migrations" / "versions" / "r2.py"
    before = target.read_text()
    if not _make_unwritable(target):
        pytest.skip("cannot make a file unwritable here")
    try:
        run = Run(["fix", "r2", "--write", "-c", str(ini)])
    finally:
        _make_writable(target)
    run.assert_failure_paragraph("r2.py", "cannot write the rewritten revision", "no file was changed")
    assert target.read_text() == before


# -- the shadow holds no privilege it does not need -----------------------------------------------

@pytest.mark.skipif(os.geteuid() != 0, reason="the privilege drop matters when alembic-guard runs as root")
@pytest.mark.parametrize("provider", ["embedded", "local"])
def test_root_only_files_are_closed_to_the_shadow(tmp_path, provider):
    """As root the shadow runs as nobody (a real uid, not one mapped to root): writing into a root-only
    directory, reading a root-only file with COPY FROM or pg_read_file all fail on the shadow as they
    would on a managed database, each a ``revision-fails`` finding; the other revisions still run."""
    from alembic_guard.shadow.binaries import embedded_bindir, local_bindirs

    if (embedded_bindir() if provider == "embedded" else next(iter(local_bindirs()), None)) is None:
        pytest.skip(f"no {provider} PostgreSQL binaries")
    locked = tmp_path / "root-only"  # tmp_path itself is under pytest's 0700 /tmp/pytest-of-root
    locked.mkdir(mode=0o700)
    secret = locked / "secret.txt"
    secret.write_text("root only\n")
    secret.chmod(0o644)  # readable by all: only the 0700 directory closes it, as under /root
    out = locked / "leak.txt"
    ini = project(tmp_path / "p", [
        ("r1", 'op.execute("CREATE TABLE t (line text)")'),
        ("r2", f"op.execute(\"COPY (SELECT 1) TO '{out}'\")"),
        ("r3", f"op.execute(\"COPY t FROM '{secret}'\")"),
        ("r4", f"op.execute(\"SELECT pg_read_file('{secret}')\")"),
        ("r5", 'op.execute("SELECT 1")'),
    ])
    run = Run(["check", "-c", str(ini), "-f", "json"], env={"ALEMBIC_GUARD_SHADOW": provider})
    assert not out.exists(), "the shadow server wrote into a directory only root may write"
    assert run.returncode == 1, run.stderr
    assert "Traceback" not in run.stderr and not run.left and not run.processes
    revs = {r["revision"]: r for r in json.loads(run.stdout)["revisions"]}
    for rev_id in ("r2", "r3", "r4"):
        (failure,) = [f for f in revs[rev_id]["findings"] if f["rule"] == "revision-fails"]
        assert "Permission denied" in failure["message"], failure["message"]
    assert revs["r1"]["verdict"] != "error" and revs["r5"]["verdict"] != "error"


def test_shadow_side_sqlstates_are_infrastructure_and_revision_ones_are_not():
    """A full disk, an ended connection or too many connections on the shadow are not the revision's
    doing; a lock timeout, a syntax error or "out of shared memory" (too many locks) are."""
    from psycopg import errors

    from alembic_guard.capture.runner import _infrastructure_sqlstate

    assert _infrastructure_sqlstate(errors.DiskFull()) == "53100"
    assert _infrastructure_sqlstate(errors.AdminShutdown()) == "57P01"
    assert _infrastructure_sqlstate(errors.TooManyConnections()) == "53300"
    for exc in (errors.LockNotAvailable(), errors.SyntaxError(), errors.OutOfMemory(), errors.QueryCanceled(),
                ValueError("boom")):
        assert _infrastructure_sqlstate(exc) is None, exc


def test_a_database_error_in_env_py_is_one_line_naming_env_py(tmp_path):
    ini = project(tmp_path, GOOD)
    env = ini.parent / "migrations" / "env.py"
    env.write_text(env.read_text().replace(
        "with connectable.connect() as connection:\n",
        "with connectable.connect() as connection:\n"
        "        connection.exec_driver_sql('select no_such_column from pg_class')\n", 1))
    run = Run(["check", "-c", str(ini), "--no-cache"])
    text = run.assert_failure_paragraph("env.py", "no_such_column")
    assert "[SQL:" not in text and "sqlalche.me" not in text, text


def test_roles_a_run_creates_on_a_user_given_shadow_are_dropped_when_it_stops(tmp_path, shadow):
    # roles are global to a server: left behind, the next check's CREATE ROLE would fail (shadow/roles.py)
    ini = project(tmp_path, [("u1", 'op.execute("CREATE ROLE ag_url_role NOLOGIN")')])
    conninfo = f"host={shadow.host} port={shadow.port} user={shadow.user} dbname=postgres"
    for _ in range(2):
        run = Run(["check", "-c", str(ini), "--shadow-url", conninfo, "-f", "json"])
        assert run.returncode == 0, run.stderr
        assert [r["verdict"] for r in json.loads(run.stdout)["revisions"]] == ["safe"]
        with psycopg.connect(shadow.conninfo(shadow.admin_db), autocommit=True) as conn:
            assert conn.execute("select count(*) from pg_roles where rolname = 'ag_url_role'").fetchone()[0] == 0
