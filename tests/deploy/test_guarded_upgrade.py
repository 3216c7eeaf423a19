"""``alembic-guard upgrade`` against a real server standing in for production: a concurrent session
holds a conflicting lock; the upgrade retries with lock_timeout, names the blocker, and finishes
once it is released, every revision applied exactly once; a failed run resumes where it stopped."""

from __future__ import annotations

import threading
import time

import psycopg

from alembic_guard.deploy.run import UpgradeOptions, run_upgrade
from tests.projects.factory import make_project

R1 = '''
op.execute("CREATE TABLE accounts (id bigint PRIMARY KEY, name text)")
op.execute("CREATE TABLE applied (rev text)")
op.execute("INSERT INTO applied VALUES ('r1')")'''
R2 = '''
op.execute("INSERT INTO applied VALUES ('r2')")
op.add_column("accounts", sa.Column("note", sa.Text()))'''


def _project(tmp_path, shadow, dbname, revisions):
    return str(make_project(tmp_path, revisions, env="ini_no_logging", url=shadow.sqlalchemy_url(dbname)))


def _applied(conninfo):
    with psycopg.connect(conninfo) as c:
        return [r[0] for r in c.execute("SELECT rev FROM applied ORDER BY rev")], \
            c.execute("SELECT version_num FROM alembic_version").fetchone()[0]


def test_retries_while_a_session_holds_a_conflicting_lock_and_names_it(shadow, dbname, tmp_path):
    ini = _project(tmp_path, shadow, dbname, [("r1", R1), ("r2", R2)])
    lines: list[str] = []
    assert run_upgrade(UpgradeOptions(config_file=ini, target="r1", check=False), lines.append).ok
    holding = threading.Event()

    def hold():
        with psycopg.connect(shadow.conninfo(dbname), application_name="reporting job") as c:
            c.execute("SELECT count(*) FROM accounts")  # ACCESS SHARE until COMMIT
            holding.set()
            time.sleep(2.0)

    t = threading.Thread(target=hold)
    t.start()
    holding.wait(10)
    result = run_upgrade(UpgradeOptions(config_file=ini, lock_timeout_ms=200, check=False), lines.append)
    t.join()
    text = "\n".join(lines)
    assert result.ok, (result.reason, text)
    assert result.applied == ["r2"]
    assert "attempt 1/" in text and "reporting job" in text and "SELECT count(*) FROM accounts" in text, text
    assert _applied(shadow.conninfo(dbname)) == (["r1", "r2"], "r2")


def test_wait_for_blockers_waits_before_the_retry(shadow, dbname, tmp_path):
    ini = _project(tmp_path, shadow, dbname, [("r1", R1), ("r2", R2)])
    lines: list[str] = []
    run_upgrade(UpgradeOptions(config_file=ini, target="r1", check=False), lines.append)
    holding = threading.Event()

    def hold():
        with psycopg.connect(shadow.conninfo(dbname)) as c:
            c.execute("SELECT count(*) FROM accounts")
            holding.set()
            time.sleep(1.5)

    t = threading.Thread(target=hold)
    t.start()
    holding.wait(10)
    result = run_upgrade(UpgradeOptions(config_file=ini, lock_timeout_ms=100, wait_for_blockers_s=10, check=False),
                         lines.append)
    t.join()
    assert result.ok, "\n".join(lines)
    assert any("waiting for blocking session" in ln for ln in lines), lines


def test_a_failed_run_resumes_at_the_revision_that_failed(shadow, dbname, tmp_path):
    failing = R2 + '\nop.execute("SELECT 1/0")'
    ini = _project(tmp_path, shadow, dbname, [("r1", R1), ("r2", failing)])
    lines: list[str] = []
    result = run_upgrade(UpgradeOptions(config_file=ini, check=False), lines.append)
    assert not result.ok and result.stopped_at == "r2" and result.applied == ["r1"]
    assert "division by zero" in result.reason
    # the revision is fixed, the rerun starts at r2 and r1 is not run again
    versions = tmp_path / "migrations" / "versions"
    path = next(p for p in versions.glob("*.py") if "r2" in p.read_text() and "1/0" in p.read_text())
    path.write_text(path.read_text().replace('op.execute("SELECT 1/0")', 'pass'))
    result = run_upgrade(UpgradeOptions(config_file=ini, check=False), lines.append)
    assert result.ok and result.applied == ["r2"], result.reason
    assert _applied(shadow.conninfo(dbname)) == (["r1", "r2"], "r2")


def test_per_revision_timeouts_from_the_revision_file(shadow, dbname, tmp_path):
    r2 = R2 + '\nop.execute("CREATE TABLE seen AS SELECT current_setting(\'lock_timeout\') AS lt")'
    ini = _project(tmp_path, shadow, dbname, [("r1", R1), ("r2", r2)])
    versions = tmp_path / "migrations" / "versions"
    path = next(p for p in versions.glob("*.py") if "CREATE TABLE seen" in p.read_text())
    path.write_text(path.read_text() + '\n\nalembic_guard = {"lock_timeout": "3s"}\n')
    lines: list[str] = []
    assert run_upgrade(UpgradeOptions(config_file=ini, check=False, lock_timeout_ms=500), lines.append).ok, lines
    with psycopg.connect(shadow.conninfo(dbname)) as c:
        assert c.execute("SELECT lt FROM seen").fetchone()[0] == "3s"


def test_an_unsafe_revision_stops_the_upgrade_unless_allowed(shadow, dbname, tmp_path):
    unsafe = 'op.create_index("ix_accounts_name", "accounts", ["name"])'
    ini = _project(tmp_path, shadow, dbname, [("r1", R1), ("r2", unsafe)])
    lines: list[str] = []
    result = run_upgrade(UpgradeOptions(config_file=ini, shadow_url=shadow.sqlalchemy_url("postgres")), lines.append)
    assert result.stopped_at == "r2" and "create-index-non-concurrent" in result.reason, result.reason
    assert result.applied == ["r1"]
    result = run_upgrade(UpgradeOptions(config_file=ini, allow_unsafe=["r2"],
                                        shadow_url=shadow.sqlalchemy_url("postgres")), lines.append)
    assert result.ok and result.applied == ["r2"], result.reason


def test_dry_run_changes_nothing(shadow, dbname, tmp_path):
    ini = _project(tmp_path, shadow, dbname, [("r1", R1), ("r2", R2)])
    result = run_upgrade(UpgradeOptions(config_file=ini, dry_run=True, check=False), lambda t: None)
    assert [s.revision for s in result.plan] == ["r1", "r2"] and not result.applied
    with psycopg.connect(shadow.conninfo(dbname)) as c:
        assert c.execute("SELECT to_regclass('accounts')").fetchone()[0] is None


def test_cli_dry_run_then_upgrade(shadow, dbname, tmp_path):
    from tests.test_cli import run_cli

    ini = _project(tmp_path, shadow, dbname, [("r1", R1), ("r2", R2)])
    r = run_cli("upgrade", "-c", ini, "--dry-run", "--no-check", "--lock-timeout", "2s")
    assert r.returncode == 0, r.stderr
    assert "r1" in r.stdout and "r2" in r.stdout and "lock_timeout 2000 ms" in r.stdout
    r = run_cli("upgrade", "-c", ini, "--no-check")
    assert r.returncode == 0, r.stderr
    assert "2 revision(s) applied" in r.stdout
    assert _applied(shadow.conninfo(dbname)) == (["r1", "r2"], "r2")


def test_cli_doctor_names_the_line(tmp_path):
    from tests.test_cli import run_cli

    ini = make_project(tmp_path, [("r1", R1)], env="ini_no_logging")
    r = run_cli("doctor", "-c", str(ini))
    assert r.returncode == 1 and "env.py:" in r.stdout and "[no-lock-timeout]" in r.stdout, r.stdout
