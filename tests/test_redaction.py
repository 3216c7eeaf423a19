"""Passwords never printed, whatever the URL form; ``?password=`` and PGPASSFILE are honoured.

The wrong-password cases need a server that checks passwords: a private PostgreSQL started here
from the cached template, with ``scram-sha-256`` for the role ``ag_pw`` (the session shadow trusts
every local connection).
"""

from __future__ import annotations

import contextlib
import json
import shutil
import subprocess
import tempfile
import time
from pathlib import Path

import psycopg
import pytest

from alembic_guard.errors import GuardError
from alembic_guard.redact import describe, parse_target, redact
from alembic_guard.shadow import cache, cluster, privileges
from alembic_guard.shadow.binaries import embedded_bindir, local_bindirs
from tests.test_faults import GOOD, Run, project

SECRET = "Sekr1t-pw"
RIGHT = "right-Pw-42"


# -- redact() and parse_target() -----------------------------------------------------------------

@pytest.mark.parametrize("text", [
    f"postgresql://me:{SECRET}@db.example:5432/app",
    f"postgresql+psycopg://me:{SECRET}@db.example/app?sslmode=require",
    f"postgresql://me@db.example/app?sslmode=require&password={SECRET}",
    f"host=db.example user=me password={SECRET} dbname=app",
    f"host=db.example user=me password = '{SECRET} with spaces' dbname=app",
    f'missing "=" after "host=x password={SECRET}" in connection info string',
])
def test_redact_hides_every_form(text):
    out = redact(text)
    assert SECRET not in out and "***" in out
    assert "db.example" in out or "host=x" in out  # the rest stays readable


def test_parse_target_reads_both_forms_with_libpq():
    uri = parse_target(f"postgresql+psycopg://me:{SECRET}@h:6543/app?sslmode=disable")
    assert uri == {"user": "me", "password": SECRET, "host": "h", "port": "6543", "dbname": "app",
                   "sslmode": "disable"}
    kv = parse_target(f"host=h port=6543 user=me password='{SECRET}' dbname=app")
    assert kv["password"] == SECRET and kv["port"] == "6543"
    assert parse_target(f"postgresql://me@h/app?password={SECRET}")["password"] == SECRET
    assert SECRET not in describe(kv) and describe(kv) == "me@h:6543/app"


@pytest.mark.parametrize("bad", [f"host=h password={SECRET} dbnme=x", f"mysql://me:{SECRET}@h/x",
                                 f"postgresql://me:{SECRET}@h:port/x"])
def test_parse_errors_show_no_password(bad):
    with pytest.raises(GuardError) as info:
        parse_target(bad)
    assert SECRET not in info.value.paragraph()


# -- a server that checks passwords ---------------------------------------------------------------

@pytest.fixture(scope="module")
def password_server():
    """(socket dir, port) of a private PostgreSQL where role ag_pw logs in with password RIGHT only."""
    bindir = embedded_bindir() or (local_bindirs()[0] if local_bindirs() else None)
    if bindir is None:
        pytest.skip("no PostgreSQL binaries")
    run_dir = Path(tempfile.mkdtemp(prefix="agpw-", dir="/tmp"))
    shutil.copytree(cache.Home.for_bindir(bindir).ensure_template(), run_dir / "data", symlinks=True)
    (run_dir / "data").chmod(0o700)
    privileges.hand_over(run_dir)
    conf = privileges.Confinement(run_dir)  # as root: nobody, the wheel's install bound into run_dir
    proc = subprocess.Popen([
        str(conf.install(bindir) / "postgres"), "-D", str(run_dir / "data"), "-c", "listen_addresses=",
        "-c", f"unix_socket_directories={run_dir}", "-c", "fsync=off"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, stdin=subprocess.DEVNULL, **conf.popen_kwargs())
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                conn = psycopg.connect(host=str(run_dir), user=cluster.SUPERUSER, dbname="postgres", autocommit=True)
                break
            except psycopg.OperationalError:
                if time.monotonic() > deadline or proc.poll() is not None:
                    pytest.skip("the private server did not start")
                time.sleep(0.05)
        with conn:
            conn.execute(f"CREATE ROLE ag_pw LOGIN CREATEDB PASSWORD '{RIGHT}'")
            (run_dir / "data" / "pg_hba.conf").write_text(
                "local all ag_pw scram-sha-256\nlocal all all trust\n")
            conn.execute("select pg_reload_conf()")
        time.sleep(0.2)
        yield str(run_dir), 5432
    finally:
        proc.terminate()
        with contextlib.suppress(subprocess.TimeoutExpired):
            proc.wait(20)
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        shutil.rmtree(run_dir, ignore_errors=True)


def _forms(host: str, port: int, password: str) -> dict[str, str]:
    return {"user:pass@": f"postgresql://ag_pw:{password}@/postgres?host={host}&port={port}",
            "?password=": f"postgresql://ag_pw@/postgres?host={host}&port={port}&password={password}",
            "key=value": f"host={host} port={port} user=ag_pw password={password} dbname=postgres"}


@pytest.mark.parametrize("form", ["user:pass@", "?password=", "key=value"])
def test_wrong_password_is_exit_2_and_never_printed(tmp_path, password_server, form):
    url = _forms(*password_server, SECRET)[form]
    run = Run(["check", "-c", str(project(tmp_path, GOOD)), "--shadow-url", url, "-f", "json"])
    run.assert_failure_paragraph("cannot connect to the shadow PostgreSQL", "password authentication failed",
                                 secret=SECRET)
    if form == "key=value":
        stats = Run(["stats", "--url", url])
        stats.assert_failure_paragraph("cannot read table statistics", "password authentication failed",
                                       secret=SECRET)


@pytest.mark.parametrize(("form", "host", "port"), [("user:pass@", "no-such-host.invalid", 5432),
                                                     ("?password=", "127.0.0.1", 1),
                                                     ("key=value", "no-such-host.invalid", 5432)])
def test_unknown_host_and_closed_port_print_no_password(tmp_path, form, host, port):
    url = _forms(host, port, SECRET)[form]
    run = Run(["check", "-c", str(project(tmp_path, GOOD)), "--shadow-url", url, "-f", "json"])
    run.assert_failure_paragraph("cannot connect to the shadow PostgreSQL", secret=SECRET)


def test_stats_url_that_cannot_be_reached_prints_no_password(tmp_path):
    run = Run(["check", "-c", str(project(tmp_path, GOOD)), "--stats-url", _forms("127.0.0.1", 1, SECRET)["key=value"]])
    run.assert_failure_paragraph("cannot read table statistics", secret=SECRET)


def test_query_password_and_pgpassfile_are_honoured(tmp_path, password_server):
    host, port = password_server
    ini = str(project(tmp_path, GOOD))
    run = Run(["check", "-c", ini, "--shadow-url", _forms(host, port, RIGHT)["?password="], "-f", "json"])
    assert run.returncode == 0, run.stderr
    assert RIGHT not in run.stdout + run.stderr and "url" in json.dumps(json.loads(run.stdout)["shadow"])
    passfile = tmp_path / "pgpass"
    passfile.write_text(f"*:*:*:ag_pw:{RIGHT}\n")
    passfile.chmod(0o600)
    url = f"host={host} port={port} user=ag_pw dbname=postgres"
    run = Run(["check", "-c", ini, "--shadow-url", url], env={"PGPASSFILE": str(passfile)})
    assert run.returncode == 0, run.stderr
    run = Run(["check", "-c", ini, "--shadow-url", url], env={"PGPASSFILE": str(tmp_path / "none")})
    run.assert_failure_paragraph("password", secret=RIGHT)


def test_log_records_are_redacted_whatever_handler_env_py_installs(capsys):
    import logging
    import sys

    from alembic_guard.jobs import run_job

    handler = logging.StreamHandler(sys.stdout)  # as env.py's fileConfig() would install, after the job starts
    log = logging.getLogger("tests.redaction")

    def job():
        log.addHandler(handler)
        log.warning("connecting to %s", f"host=h user=me password={SECRET} dbname=app")
        return 0

    try:
        assert run_job(job) == 0
    finally:
        log.removeHandler(handler)
    out = capsys.readouterr().out
    assert "connecting to host=h" in out and SECRET not in out


def test_a_raw_at_sign_in_the_password_shows_no_part_of_it(tmp_path):
    """libpq ends the user info at the first "@": the rest of the password would be the host name."""
    import sys

    shop = Path(__file__).resolve().parents[1] / "examples" / "shop" / "alembic.ini"
    url = "postgresql://ag_pw:Xy@LeakPart@127.0.0.1:1/postgres"
    assert "LeakPart" not in redact(f"see {url} now") and "Xy" not in redact(url)
    assert redact("postgresql://u:pw@h/db, write to me@example.org") == "postgresql://u:***@h/db, write to me@example.org"
    r = subprocess.run([sys.executable, "-m", "alembic_guard.cli", "check", "-c", str(shop), "--shadow-url", url],
                       capture_output=True, text=True, timeout=120)
    out = r.stdout + r.stderr
    assert r.returncode == 2 and "LeakPart" not in out and "Xy" not in out, out
    assert "%40" in out and "Traceback" not in out and len(r.stderr.strip().splitlines()) == 1, out
