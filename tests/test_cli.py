"""The command line end to end: exit status, report formats, bad input, cleanup."""

from __future__ import annotations

import json

from alembic_guard.rules.base import design_rule_ids
import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest

from tests.conftest import test_provider
from tests.projects.factory import make_project

ROOT = Path(__file__).resolve().parents[1]
SHOP = ROOT / "examples" / "shop" / "alembic.ini"


def run_cli(*args, cwd=None, env=None, timeout=180):
    full_env = dict(os.environ, **(env or {}))
    if test_provider() and "ALEMBIC_GUARD_SHADOW" not in full_env:
        full_env["ALEMBIC_GUARD_SHADOW"] = test_provider()
    return subprocess.run([sys.executable, "-m", "alembic_guard.cli", *args], capture_output=True, text=True,
                          cwd=cwd, env=full_env, timeout=timeout)


def test_shop_example_json_report():
    r = run_cli("check", "-c", str(SHOP), "--format", "json")
    assert r.returncode == 1, r.stderr
    doc = json.loads(r.stdout)
    assert doc["tool"]["name"] == "alembic-guard" and doc["tool"]["version"]
    assert doc["shadow"]["provider"] and doc["shadow"]["server_version"]
    verdicts = {rev["revision"]: rev["verdict"] for rev in doc["revisions"]}
    assert verdicts["0002"] == "unsafe"
    assert verdicts["0001"] == verdicts["0003"] == verdicts["0004"] == verdicts["0011"] == "safe"
    rev = next(r for r in doc["revisions"] if r["revision"] == "0002")
    assert rev["down_revision"] == "0001" and rev["path"].endswith("0002_index_orders_by_customer.py")
    st = rev["statements"][0]
    assert {"sql", "line", "new_locks", "held_locks", "rewrites", "duration_ms", "error"} <= set(st)
    f = rev["findings"][0]
    assert {"rule", "severity", "line", "table", "message", "fix"} <= set(f)
    assert f["table"] == "orders" and f["severity"] == "error" and f["line"] == 24


@pytest.mark.parametrize("fmt,needle", [("text", "UNSAFE"), ("markdown", "## alembic-guard"), ("sarif", '"2.1.0"')])
def test_other_formats(fmt, needle, tmp_path):
    out = tmp_path / "report"
    r = run_cli("check", "-c", str(SHOP), "--format", fmt, "--output", str(out), "--fail-on", "never")
    assert r.returncode == 0, r.stderr
    assert needle in out.read_text()


def test_missing_config_is_exit_2(tmp_path):
    r = run_cli("check", "-c", str(tmp_path / "alembic.ini"))
    assert r.returncode == 2
    assert "alembic.ini" in r.stderr and "no such Alembic config file" in r.stderr
    assert "Traceback" not in r.stderr


def test_revision_with_syntax_error_names_file_and_line(tmp_path):
    ini = make_project(tmp_path, [("r1", 'op.create_table("t", sa.Column("id", sa.Integer)')])
    r = run_cli("check", "-c", str(ini))
    assert r.returncode == 2
    assert "r1.py:16" in r.stderr and "syntax error" in r.stderr and "Traceback" not in r.stderr


def test_sql_that_does_not_parse_names_file_and_line(tmp_path):
    ini = make_project(tmp_path, [("r1", 'op.execute("ALTER TABEL t ADD x int")')])
    r = run_cli("check", "-c", str(ini))
    assert r.returncode == 2
    assert "r1.py:16" in r.stderr and "does not parse" in r.stderr


def test_unreachable_shadow_url_is_exit_2(tmp_path):
    ini = make_project(tmp_path, [("r1", "pass")])
    r = run_cli("check", "-c", str(ini), "--shadow-url", "postgresql://x@127.0.0.1:1/x")
    assert r.returncode == 2 and "cannot connect to the shadow PostgreSQL" in r.stderr


def test_interrupt_leaves_no_server_and_no_temp_dir(tmp_path):
    ini = make_project(tmp_path / "proj", [("r1", 'op.execute("SELECT pg_sleep(30)")')])
    tmp = Path(tempfile.mkdtemp(dir="/tmp"))  # short: unix socket paths are limited to 107 bytes
    tmp.chmod(0o755)  # as root the server (nobody) must reach it, else run dirs go to /tmp itself
    env = dict(os.environ, TMPDIR=str(tmp))
    if test_provider():
        env["ALEMBIC_GUARD_SHADOW"] = test_provider()
    proc = subprocess.Popen([sys.executable, "-m", "alembic_guard.cli", "check", "-c", str(ini)],
                            env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 60
    while not list(tmp.glob("alembic-guard-*/.s.PGSQL.*")) and time.monotonic() < deadline:
        time.sleep(0.05)
    time.sleep(1.0)  # inside pg_sleep now
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 130, err
    assert list(tmp.iterdir()) == []
    ps = subprocess.run(["pgrep", "-f", str(tmp)], capture_output=True, text=True).stdout.strip()
    assert ps == ""
    tmp.rmdir()


def test_long_tmpdir_still_gets_a_socket(tmp_path):
    ini = make_project(tmp_path / "proj", [("r1", "pass")])
    long_tmp = tmp_path / ("x" * 80)
    long_tmp.mkdir()
    r = run_cli("check", "-c", str(ini), env={"TMPDIR": str(long_tmp)})
    assert r.returncode == 0, r.stderr
    assert list(long_tmp.iterdir()) == []


def test_pyproject_config_disables_rules_and_sets_fail_on(tmp_path):
    ini = make_project(tmp_path, [
        ("r1", 'op.create_table("t", sa.Column("id", sa.Integer, primary_key=True), sa.Column("a", sa.Integer))'),
        ("r2", 'op.create_index("ix_t_a", "t", ["a"])'),
    ])
    r = run_cli("check", "-c", str(ini), "--format", "json")
    assert r.returncode == 1
    (tmp_path / "pyproject.toml").write_text(
        '[tool.alembic-guard]\ndisable = ["lock-without-timeout"]\nfail-on = "never"\n'
        'severity = { "create-index-non-concurrent" = "warning" }\n')
    r = run_cli("check", "-c", str(ini), "--format", "json")
    assert r.returncode == 0, r.stderr
    findings = [f for rev in json.loads(r.stdout)["revisions"] for f in rev["findings"]
                if f["rule"] not in design_rule_ids()]
    assert [f["rule"] for f in findings] == ["create-index-non-concurrent"]
    assert findings[0]["severity"] == "warning"


def test_inline_suppression_with_and_without_reason(tmp_path):
    ini = make_project(tmp_path, [
        ("r1", 'op.create_table("t", sa.Column("id", sa.Integer, primary_key=True), sa.Column("a", sa.Integer))'),
        ("r2", 'op.create_index("ix_t_a", "t", ["a"])'
               '  # alembic-guard: ignore[create-index-non-concurrent] tiny table'),
        ("r3", 'op.create_index("ix_t_id", "t", ["id", "a"])  # alembic-guard: ignore[create-index-non-concurrent]'),
    ])
    r = run_cli("check", "-c", str(ini), "--format", "json", "--disable", "lock-without-timeout")
    revs = {rev["revision"]: rev for rev in json.loads(r.stdout)["revisions"]}
    assert revs["r2"]["verdict"] == "safe"
    (ci,) = [f for f in revs["r2"]["findings"] if f["rule"] == "create-index-non-concurrent"]
    assert ci["suppressed"] == "tiny table"
    assert any(f["rule"] == "suppression-without-reason" for f in revs["r3"]["findings"])


def test_production_sizes_from_a_read_only_connection(tmp_path, shadow, dbname):
    import psycopg

    with psycopg.connect(shadow.conninfo(dbname), autocommit=True) as conn:
        conn.execute("CREATE TABLE t (id int PRIMARY KEY, a int)")
        conn.execute("INSERT INTO t SELECT g, g FROM generate_series(1, 20000) g")
        conn.execute("ANALYZE t")
    prod = f"postgresql://{shadow.user}@/{dbname}?host={shadow.host}&port={shadow.port}"
    stats = run_cli("stats", "--url", prod)
    assert stats.returncode == 0, stats.stderr
    assert json.loads(stats.stdout)["tables"]["t"]["rows"] == 20000
    (tmp_path / "stats.json").write_text(stats.stdout)
    ini = make_project(tmp_path / "p", [
        ("r1", 'op.create_table("t", sa.Column("id", sa.Integer, primary_key=True), sa.Column("a", sa.Integer))'),
        ("r2", 'op.alter_column("t", "a", type_=sa.BigInteger)'),
    ])
    r = run_cli("check", "-c", str(ini), "--format", "json", "--stats-file", str(tmp_path / "stats.json"))
    f = next(f for rev in json.loads(r.stdout)["revisions"] for f in rev["findings"]
             if f["rule"] == "alter-column-type-rewrites")
    assert f["table_rows"] == 20000 and "20.0k rows" in f["message"] and "rewriting it takes roughly" in f["message"]


def test_env_py_needing_an_unset_variable_is_explained(tmp_path):
    ini = make_project(tmp_path, [("r1", "pass")], env="env_var")
    env = {k: v for k, v in os.environ.items() if k != "APP_DATABASE_URL"}
    r = subprocess.run([sys.executable, "-m", "alembic_guard.cli", "check", "-c", str(ini)], capture_output=True,
                       text=True, env=dict(env, ALEMBIC_GUARD_SHADOW=test_provider() or "auto"), timeout=120)
    assert r.returncode == 2
    assert "env.py:6" in r.stderr and "APP_DATABASE_URL" in r.stderr and "environment variable" in r.stderr
