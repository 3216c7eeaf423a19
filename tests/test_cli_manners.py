"""Command-line manners and configuration that answers back: explain, -V, colour, width, progress,
-o checked before the run, git-apply-able fix diffs, unknown keys / rule ids with a did-you-mean."""

from __future__ import annotations

import os
import pty
import re
import select
import subprocess
import sys
import time
from pathlib import Path

import pytest

from alembic_guard.check_config import check_rule_ids, check_suppressions, load_check_config, rule_ids
from alembic_guard.config_model import GuardTable
from alembic_guard.errors import GuardError
from alembic_guard.settings import SETTING_NAMES, load_settings
from alembic_guard.terminal import color_enabled
from tests.conftest import test_provider
from tests.projects.factory import make_project
from tests.test_cli import ROOT, SHOP

ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")
UNREACHABLE = {"ALEMBIC_GUARD_SHADOW": "url", "ALEMBIC_GUARD_SHADOW_URL": "postgresql://x@127.0.0.1:1/x"}
INDEX = [("r1", 'op.create_table("t", sa.Column("id", sa.Integer, primary_key=True), sa.Column("a", sa.Integer))'),
         ("r2", 'op.create_index("ix_t_a", "t", ["a"])')]


def plain_env(**extra):
    env = {k: v for k, v in os.environ.items() if k not in ("NO_COLOR", "FORCE_COLOR", "COLUMNS")}
    env["PYTHONPATH"] = os.pathsep.join([str(ROOT), *filter(None, [os.environ.get("PYTHONPATH")])])
    env.update(extra)
    return env


def run_plain(*args, cwd=None, **extra):
    """run_cli without the caller's NO_COLOR / FORCE_COLOR / COLUMNS."""
    env = plain_env(**extra)
    if test_provider() and "ALEMBIC_GUARD_SHADOW" not in env:
        env["ALEMBIC_GUARD_SHADOW"] = test_provider()
    return subprocess.run([sys.executable, "-m", "alembic_guard.cli", *args], capture_output=True, text=True,
                          cwd=cwd, env=env, timeout=180)


# -- version, explain ---------------------------------------------------------------------------

@pytest.mark.parametrize("flag", ["-V", "--version"])
def test_version(flag):
    from alembic_guard import __version__

    r = run_plain(flag)
    assert r.returncode == 0 and __version__ in r.stdout


def test_explain_prints_the_rule_page_with_code_unwrapped():
    from alembic_guard.rules import all_rules

    rule = next(r for r in all_rules() if r.id == "create-index-non-concurrent")
    r = run_plain("explain", rule.id, COLUMNS="40")
    assert r.returncode == 0, r.stderr
    assert rule.title.split()[0] in r.stdout and "\x1b[" not in r.stdout
    # every line of the examples is printed whole, unindented, at 40 columns
    for line in (rule.bad_example + "\n" + rule.good_example).splitlines():
        assert line.rstrip() in r.stdout.splitlines(), line
    assert f"op.some_operation(...)  # alembic-guard: ignore[{rule.id}] <why it is safe here>" in r.stdout
    # prose wraps to the terminal
    prose = [ln for ln in r.stdout.splitlines() if ln and not ln.startswith(("op.", "with ", " ", "[", "disable", "severity"))]
    assert all(len(ln) <= 40 for ln in prose if "://" not in ln), prose


def test_explain_unknown_rule_is_exit_2_with_did_you_mean():
    r = run_plain("explain", "create-index-non-concurent")
    assert r.returncode == 2 and "Traceback" not in r.stderr
    assert "did you mean 'create-index-non-concurrent'?" in r.stderr
    assert run_plain("explain", "revision-fails").returncode == 0


# -- colour ----------------------------------------------------------------------------------

def test_no_color_and_force_color(monkeypatch):
    class Tty:
        def isatty(self):
            return True

    class Pipe:
        def isatty(self):
            return False

    for var in ("NO_COLOR", "FORCE_COLOR"):
        monkeypatch.delenv(var, raising=False)
    assert color_enabled(Tty()) and not color_enabled(Pipe())
    monkeypatch.setenv("NO_COLOR", "")  # empty: not set
    assert color_enabled(Tty())
    monkeypatch.setenv("NO_COLOR", "1")
    assert not color_enabled(Tty())
    monkeypatch.setenv("FORCE_COLOR", "1")
    assert not color_enabled(Pipe())  # NO_COLOR wins
    monkeypatch.delenv("NO_COLOR")
    assert color_enabled(Pipe())
    # the same decision on the real command line
    assert "\x1b[" in run_plain("explain", "drop-column", FORCE_COLOR="1").stdout
    assert "\x1b[" not in run_plain("explain", "drop-column", FORCE_COLOR="1", NO_COLOR="1").stdout


def test_check_report_colour_follows_force_color(tmp_path):
    ini = make_project(tmp_path, INDEX)
    r = run_plain("check", "-c", str(ini), "--fail-on", "never", FORCE_COLOR="1")
    assert r.returncode == 0, r.stderr
    assert "\x1b[" in r.stdout and "UNSAFE" in ANSI.sub("", r.stdout)
    # no progress line when stderr is no terminal (the run lasts more than a second)
    assert "revision 1 of" not in r.stderr and "\x1b[" not in r.stderr


# -- width: prose wraps, code never ----------------------------------------------------------

def test_text_report_at_80_columns_keeps_every_fix_paste_ready():
    r = run_plain("check", "-c", str(SHOP), "--fail-on", "never", COLUMNS="80")
    assert r.returncode == 0, r.stderr
    lines = r.stdout.splitlines()
    blocks, i = [], 0
    while i < len(lines):
        if lines[i] == "    safe alternative:":
            j = i + 1
            while j < len(lines) and (lines[j].startswith("      ") or lines[j] == ""):
                j += 1
            blocks.append((i + 1, j))
            i = j
        else:
            i += 1
    assert len(blocks) >= 3, r.stdout
    code_lines = set()
    for start, end in blocks:
        code = "\n".join(ln[6:] for ln in lines[start:end]).strip("\n") + "\n"
        compile(code, f"fix block at line {start}", "exec")
        code_lines.update(range(start, end))
    assert any(len(lines[n]) > 80 for n in code_lines), "the shop's fixes have a long line: it must stay whole"
    for n, ln in enumerate(lines):
        if n not in code_lines and "docs: " not in ln:
            assert len(ln) <= 80, ln


# -- progress on a terminal ------------------------------------------------------------------

def test_progress_line_on_a_terminal_stderr(tmp_path):
    ini = make_project(tmp_path, [("r1", 'op.execute("SELECT pg_sleep(1.5)")'), ("r2", 'op.execute("SELECT 1")')])
    master, slave = pty.openpty()
    env = plain_env(COLUMNS="120")
    if test_provider():
        env["ALEMBIC_GUARD_SHADOW"] = test_provider()
    proc = subprocess.Popen([sys.executable, "-m", "alembic_guard.cli", "check", "-c", str(ini)],
                            stdout=subprocess.PIPE, stderr=slave, env=env, text=True)
    os.close(slave)
    seen = b""
    deadline = time.monotonic() + 150
    while time.monotonic() < deadline:
        ready, _, _ = select.select([master], [], [], 0.2)
        if ready:
            try:
                chunk = os.read(master, 65536)
            except OSError:
                break
            if not chunk:
                break
            seen += chunk
        elif proc.poll() is not None:
            break
    out, _ = proc.communicate(timeout=60)
    os.close(master)
    assert proc.returncode == 0, seen.decode(errors="replace")
    text = ANSI.sub("", seen.decode(errors="replace"))
    assert "revision 1 of 2: r1 revision r1" in text, text
    assert "SAFE" in out and "revision 1 of" not in out


# -- -o checked before the run ---------------------------------------------------------------

def test_output_into_a_missing_directory_is_exit_2_before_the_run(tmp_path):
    ini = make_project(tmp_path, [("r1", "pass")])
    # the shadow is unreachable: reaching it would be another error, so these come first
    r = run_plain("check", "-c", str(ini), "-o", str(tmp_path / "nope" / "report.md"), **UNREACHABLE)
    assert r.returncode == 2 and "Traceback" not in r.stderr
    assert "does not exist" in r.stderr and "nope" in r.stderr and "shadow" not in r.stderr
    (tmp_path / "file").write_text("")
    r = run_plain("check", "-c", str(ini), "-o", str(tmp_path / "file" / "report.md"), **UNREACHABLE)
    assert r.returncode == 2 and "is not a directory" in r.stderr


def test_output_to_an_unwritable_path_is_exit_2_before_the_run(tmp_path):
    ini = make_project(tmp_path, [("r1", "pass")])
    if os.geteuid() == 0:
        target = Path("/proc/version")  # not writable, even for root
    else:
        locked = tmp_path / "locked"
        locked.mkdir()
        locked.chmod(0o500)
        target = locked / "report.md"
    r = run_plain("check", "-c", str(ini), "-o", str(target), **UNREACHABLE)
    assert r.returncode == 2 and "cannot write the report" in r.stderr and "Traceback" not in r.stderr
    assert "shadow" not in r.stderr
    # a writable -o leaves no file behind when the run then fails
    r = run_plain("check", "-c", str(ini), "-o", str(tmp_path / "report.md"), **UNREACHABLE)
    assert r.returncode == 2 and "shadow" in r.stderr and not (tmp_path / "report.md").exists()


# -- fix prints a diff git apply accepts -----------------------------------------------------

def test_fix_diff_applies_with_git(tmp_path):
    repo = tmp_path / "repo"
    ini = make_project(repo / "service", INDEX)
    git = ["git", "-c", "user.name=t", "-c", "user.email=t@example.com"]
    subprocess.run([*git, "init", "-q", str(repo)], check=True)
    subprocess.run([*git, "-C", str(repo), "add", "-A"], check=True)
    subprocess.run([*git, "-C", str(repo), "commit", "-qm", "init"], check=True)
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    r = run_plain("fix", "r2", "-c", str(ini), cwd=elsewhere)
    assert r.returncode == 0, r.stdout + r.stderr
    assert "--- a/service/migrations/versions/r2.py" in r.stdout and "+++ b/service/migrations/versions/r2.py" in r.stdout
    check = subprocess.run(["git", "-C", str(repo), "apply", "--check", "-"], input=r.stdout, capture_output=True,
                           text=True)
    assert check.returncode == 0, check.stderr + r.stdout
    subprocess.run(["git", "-C", str(repo), "apply", "-"], input=r.stdout, text=True, check=True)
    new = (repo / "service" / "migrations" / "versions" / "r2.py").read_text()
    compile(new, "r2.py", "exec")
    assert "concurrently" in new.lower()


# -- configuration that answers back ---------------------------------------------------------

def test_model_covers_every_setting():
    fields = set(GuardTable.model_fields)
    for name in SETTING_NAMES:
        assert name in fields
        if name.endswith("_ms"):
            assert name[:-3] in fields


def write_pyproject(tmp_path, body):
    (tmp_path / "pyproject.toml").write_text(f"[tool.alembic-guard]\n{body}\n")


@pytest.mark.parametrize("body, expected", [
    ('lock_timout = "2s"', "unknown key 'lock_timout' (did you mean 'lock_timeout'?)"),
    ('fail_onn = "warning"', "unknown key 'fail_onn' (did you mean 'fail_on'?)"),
    ('disabled = ["drop-column"]', "unknown key 'disabled' (did you mean 'disable'?)"),
    ('fail-on = "warnings"', "fail-on must be one of 'error', 'warning', 'info' or 'never', not 'warnings'"),
    ("fail-on-unknown = 1", "fail-on-unknown must be true or false"),
    ('severity = { "drop-column" = "high" }', "severity['drop-column'] must be one of"),
    ('disable = "drop-column"', "disable must be a list"),
])
def test_unknown_keys_and_bad_values_name_the_file(tmp_path, body, expected):
    write_pyproject(tmp_path, body)
    for load in (load_check_config, load_settings):
        with pytest.raises(GuardError) as info:
            load(tmp_path)
        assert expected in info.value.message
        assert info.value.paragraph().startswith(f"{tmp_path / 'pyproject.toml'}: ")


def test_both_tables_share_one_model(tmp_path):
    write_pyproject(tmp_path, 'lock_timeout = "2s"\nbatch_size = 10\ndisable = ["drop-column"]\nfail-on = "warning"\n'
                              'severity = { "rename-column" = "info" }\nstats-file = "s.json"')
    cfg = load_check_config(tmp_path)
    assert cfg.disable == ["drop-column"] and cfg.fail_on == "warning" and cfg.severity == {"rename-column": "info"}
    assert cfg.stats_file == str(tmp_path / "s.json")
    s = load_settings(tmp_path)
    assert s.lock_timeout_ms == 2000 and s.batch_size == 10


def test_malformed_toml_names_file_line_and_column(tmp_path):
    (tmp_path / "pyproject.toml").write_text('[project]\nname = "x"\n\n[tool.alembic-guard]\nfail-on = warning\n')
    with pytest.raises(GuardError) as info:
        load_check_config(tmp_path)
    err = info.value
    assert (err.line, err.column) == (5, 11)
    assert err.paragraph().startswith(f"{tmp_path / 'pyproject.toml'}:5:11: cannot parse this TOML file")


@pytest.mark.parametrize("body, where", [
    ('disable = ["drop-colum"]', "disable"),
    ('severity = { "drop-colum" = "info" }', "severity"),
])
def test_unknown_rule_ids_in_the_config(tmp_path, body, where):
    write_pyproject(tmp_path, body)
    with pytest.raises(GuardError, match=rf"{where} names an unknown rule 'drop-colum' \(did you mean 'drop-column'\?\)"):
        load_check_config(tmp_path)


def test_rule_ids_include_the_judges_own():
    ids = rule_ids()
    assert "revision-fails" in ids and "suppression-without-reason" in ids and "drop-column" in ids
    check_rule_ids(["revision-fails", "suppression-without-reason"], "--disable")


def test_unknown_rule_ids_on_the_command_line_and_in_the_config_are_exit_2_before_the_run(tmp_path):
    ini = make_project(tmp_path, [("r1", "pass")])
    r = run_plain("check", "-c", str(ini), "--disable", "lock-without-timout", **UNREACHABLE)
    assert r.returncode == 2 and "did you mean 'lock-without-timeout'?" in r.stderr and "shadow" not in r.stderr
    write_pyproject(tmp_path, 'severity = { "create-index-non-concurent" = "warning" }')
    r = run_plain("check", "-c", str(ini), **UNREACHABLE)
    assert r.returncode == 2 and "did you mean 'create-index-non-concurrent'?" in r.stderr
    assert str(tmp_path / "pyproject.toml") in r.stderr
    write_pyproject(tmp_path, 'lock_timeot = "1s"')
    r = run_plain("check", "-c", str(ini), **UNREACHABLE)
    assert r.returncode == 2 and "unknown key 'lock_timeot' (did you mean 'lock_timeout'?)" in r.stderr


def test_unknown_suppression_id_names_the_revision_file_and_line(tmp_path):
    ini = make_project(tmp_path, [
        ("r1", 'op.create_table("t", sa.Column("id", sa.Integer, primary_key=True))'),
        ("r2", 'op.create_index("ix_t_id", "t", ["id"])  # alembic-guard: ignore[create-index-non-concurent] tiny'),
    ])
    path = tmp_path / "migrations" / "versions" / "r2.py"
    line = next(n for n, ln in enumerate(path.read_text().splitlines(), 1) if "ignore[" in ln)
    with pytest.raises(GuardError) as info:
        check_suppressions([tmp_path / "migrations" / "versions"])
    assert (info.value.path, info.value.line) == (str(path), line)
    r = run_plain("check", "-c", str(ini), **UNREACHABLE)
    assert r.returncode == 2 and "Traceback" not in r.stderr
    assert f"{path}:{line}: the suppression comment names an unknown rule 'create-index-non-concurent' " \
           "(did you mean 'create-index-non-concurrent'?)" in r.stderr
    # a string that merely contains the marker is no suppression; known ids pass
    path.write_text(path.read_text().replace("create-index-non-concurent", "create-index-non-concurrent")
                    + '\nX = "# alembic-guard: ignore[nonsense]"\n')
    check_suppressions([tmp_path / "migrations" / "versions"])
