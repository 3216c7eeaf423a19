"""`check --changed-since GIT_REF` (changes.py) and `check --baseline / --write-baseline` (baseline.py),
end to end on real git repositories and a real shadow PostgreSQL."""

from __future__ import annotations

import json

from alembic_guard.rules.base import design_rule_ids
import os
import subprocess
from pathlib import Path

from alembic_guard.baseline import Baseline, apply_baseline, finding_key, sql_fingerprint
from alembic_guard.model import Finding, RevisionTrace, Statement
from tests.projects.factory import Revision, make_project
from tests.test_cli import run_cli

TABLE_T = 'op.create_table("t", sa.Column("id", sa.Integer, primary_key=True), sa.Column("a", sa.Integer))'
TABLE_U = 'op.create_table("u", sa.Column("id", sa.Integer, primary_key=True))'
TABLE_V = 'op.create_table("v", sa.Column("id", sa.Integer, primary_key=True))'
INDEX_T = 'op.create_index("ix_t_a", "t", ["a"])'  # an error: CREATE INDEX on an existing table
INDEX_T2 = 'op.create_index("ix_t_id_a", "t", ["id", "a"])'

GIT_ENV = {"GIT_CONFIG_GLOBAL": os.devnull, "GIT_CONFIG_NOSYSTEM": "1", "GIT_AUTHOR_NAME": "t",
           "GIT_AUTHOR_EMAIL": "t@example.invalid", "GIT_COMMITTER_NAME": "t",
           "GIT_COMMITTER_EMAIL": "t@example.invalid"}


def git(root: Path, *args: str) -> str:
    r = subprocess.run(["git", *args], cwd=root, capture_output=True, text=True, env=dict(os.environ, **GIT_ENV))
    assert r.returncode == 0, r.stderr
    return r.stdout


def commit_all(root: Path, message: str) -> None:
    git(root, "add", "-A")
    git(root, "commit", "-q", "-m", message)


def versions(root: Path) -> Path:
    return root / "migrations" / "versions"


def add_revision(root: Path, rev: str, body: str, down: str) -> Path:
    """Write one more revision file into the project at ``root`` (make_project's template)."""
    scratch = root / ".scratch"
    make_project(scratch, [Revision(rev, body, down)])
    path = versions(root) / f"{rev}.py"
    path.write_text((versions(scratch) / f"{rev}.py").read_text())
    for p in sorted(scratch.rglob("*"), reverse=True):
        p.unlink() if p.is_file() else p.rmdir()
    scratch.rmdir()
    return path


def check_json(ini: Path, *args: str):
    r = run_cli("check", "-c", str(ini), "-f", "json", *args, env=GIT_ENV)
    assert r.returncode in (0, 1), r.stderr
    assert "Traceback" not in r.stderr
    return r.returncode, json.loads(r.stdout)


def reported(doc) -> set[str]:
    return {rev["revision"] for rev in doc["revisions"]}


def test_changed_since_reports_only_new_and_changed_revisions(tmp_path):
    ini = make_project(tmp_path, [("r1", TABLE_T), ("r2", TABLE_U)])
    git(tmp_path, "init", "-q", "-b", "main")
    commit_all(tmp_path, "two revisions")
    # the next commit adds r3 (unsafe) and only renames r1's file
    add_revision(tmp_path, "r3", INDEX_T, "r2")
    git(tmp_path, "mv", "migrations/versions/r1.py", "migrations/versions/0001_create_t.py")
    commit_all(tmp_path, "add r3, rename r1")

    rc, doc = check_json(ini, "--changed-since", "HEAD~1")
    assert reported(doc) == {"r3"}  # r1 renamed, content unchanged: not a changed revision
    assert rc == 1 and doc["revisions"][0]["verdict"] == "unsafe"
    assert doc["changed_since"]["ref"] == "HEAD~1" and doc["changed_since"]["not_reported"] == 2
    assert doc["summary"]["revisions"] == 1
    assert any("2 unchanged revision(s) traced, not reported (--changed-since HEAD~1" in n for n in doc["notes"])

    # uncommitted work counts: r2 edited (unstaged), r4 new and untracked, r1 renamed and edited (staged)
    r2 = versions(tmp_path) / "r2.py"
    r2.write_text(r2.read_text().replace("def downgrade():", "# reviewed\n\n\ndef downgrade():"))
    add_revision(tmp_path, "r4", TABLE_V, "r3")
    git(tmp_path, "mv", "migrations/versions/0001_create_t.py", "migrations/versions/0001_t.py")
    r1 = versions(tmp_path) / "0001_t.py"
    r1.write_text(r1.read_text() + "\n# the table of ts\n")
    git(tmp_path, "add", str(r1))
    rc, doc = check_json(ini, "--changed-since", "HEAD")
    assert reported(doc) == {"r1", "r2", "r4"}
    assert rc == 0 and {rev["verdict"] for rev in doc["revisions"]} == {"safe"}


def test_changed_since_a_merged_branch_counts_from_the_merge_base(tmp_path):
    ini = make_project(tmp_path, [("r1", TABLE_T), ("r2", TABLE_U)])
    git(tmp_path, "init", "-q", "-b", "main")
    commit_all(tmp_path, "two revisions")
    git(tmp_path, "checkout", "-q", "-b", "feature")
    add_revision(tmp_path, "r3", TABLE_V, "r2")
    commit_all(tmp_path, "feature: r3")
    git(tmp_path, "checkout", "-q", "main")
    r1 = versions(tmp_path) / "r1.py"
    r1.write_text(r1.read_text() + "\n# edited on main\n")
    commit_all(tmp_path, "main: edit r1")
    git(tmp_path, "checkout", "-q", "feature")
    git(tmp_path, "merge", "-q", "--no-edit", "--no-ff", "main")  # a merge commit bringing r1's edit
    git(tmp_path, "checkout", "-q", "main")
    r2 = versions(tmp_path) / "r2.py"
    r2.write_text(r2.read_text() + "\n# edited on main after the merge\n")
    commit_all(tmp_path, "main: edit r2")
    git(tmp_path, "checkout", "-q", "feature")
    assert len(git(tmp_path, "log", "--merges", "--format=%H").split()) == 1

    # against main itself r1 came with the merge and r2 differs only by main's later commit: the
    # merge base (main before its r2 edit) leaves the feature's own revision alone
    rc, doc = check_json(ini, "--changed-since", "main")
    assert reported(doc) == {"r3"}
    assert doc["changed_since"]["merge_base"] == git(tmp_path, "rev-parse", "main~1").strip()
    assert rc == 0


def test_changed_since_unknown_ref_no_repository_or_no_git_is_exit_2(tmp_path):
    repo = tmp_path / "repo"
    ini = make_project(repo, [("r1", TABLE_T)])
    git(repo, "init", "-q", "-b", "main")
    commit_all(repo, "one")
    r = run_cli("check", "-c", str(ini), "--changed-since", "no-such-branch", env=GIT_ENV)
    assert r.returncode == 2 and "Traceback" not in r.stderr
    assert "--changed-since no-such-branch: git knows no commit by that name" in r.stderr
    assert r.stdout == ""

    plain = tmp_path / "plain"
    ini = make_project(plain, [("r1", TABLE_T)])
    r = run_cli("check", "-c", str(ini), "--changed-since", "main",
                env={**GIT_ENV, "GIT_CEILING_DIRECTORIES": str(tmp_path)})
    assert r.returncode == 2 and "Traceback" not in r.stderr
    assert "is not inside a git work tree" in r.stderr and str(plain) in r.stderr

    empty_bin = tmp_path / "bin"
    empty_bin.mkdir()
    r = run_cli("check", "-c", str(ini), "--changed-since", "main", env={"PATH": str(empty_bin)})
    assert r.returncode == 2 and "Traceback" not in r.stderr
    assert "needs git" in r.stderr


def test_baseline_round_trip(tmp_path):
    ini = make_project(tmp_path, [("r1", TABLE_T), ("r2", INDEX_T)])
    baseline = tmp_path / "alembic-guard-baseline.json"

    rc, doc = check_json(ini, "--write-baseline", str(baseline))
    assert rc == 0  # today's findings are accepted at once
    written = json.loads(baseline.read_text())
    entries = [e for e in written["findings"] if e["rule"] not in design_rule_ids()]
    assert {e["rule"] for e in entries} >= {"create-index-non-concurrent"}
    assert {e["revision"] for e in entries} == {"r2"} and all(e["table"] == "t" for e in entries)
    old_line = entries[0]["line"]

    rc, doc = check_json(ini, "--baseline", str(baseline))
    assert rc == 0
    r2 = next(rev for rev in doc["revisions"] if rev["revision"] == "r2")
    assert r2["verdict"] == "safe" and r2["findings"]
    assert {f["suppressed"] for f in r2["findings"]} == {"baseline"}
    assert doc["summary"]["baselined"] == len(written["findings"]) and doc["summary"]["findings"] == 0

    # lines added above r2's statement, r1 edited, and a new unsafe revision
    path2 = versions(tmp_path) / "r2.py"
    path2.write_text("# a comment\n# and another\n\n" + path2.read_text().replace("def upgrade():", "def upgrade():\n    # why\n"))
    path1 = versions(tmp_path) / "r1.py"
    path1.write_text(path1.read_text().replace(TABLE_T, TABLE_T + "\n    op.execute(\"COMMENT ON TABLE t IS 'ts'\")"))
    add_revision(tmp_path, "r3", INDEX_T2, "r2")
    rc, doc = check_json(ini, "--baseline", str(baseline))
    assert rc == 1
    by_rev = {rev["revision"]: rev for rev in doc["revisions"]}
    assert by_rev["r3"]["verdict"] == "unsafe"
    assert {f["suppressed"] for f in by_rev["r3"]["findings"]} == {None}
    assert by_rev["r2"]["verdict"] == "safe"
    assert {f["suppressed"] for f in by_rev["r2"]["findings"]} == {"baseline"}
    assert all(f["line"] != old_line for f in by_rev["r2"]["findings"])  # moved, still accepted
    assert by_rev["r1"]["verdict"] == "safe"
    active = [(f["rule"], rev) for rev, r in by_rev.items() for f in r["findings"] if not f["suppressed"]]
    assert active and {rev for _, rev in active} == {"r3"}


def test_baseline_with_changed_since_reports_only_new_findings(tmp_path):
    ini = make_project(tmp_path, [("r1", TABLE_T), ("r2", INDEX_T)])
    git(tmp_path, "init", "-q", "-b", "main")
    commit_all(tmp_path, "two revisions")
    baseline = tmp_path / "baseline.json"
    run_cli("check", "-c", str(ini), "--write-baseline", str(baseline), env=GIT_ENV)
    add_revision(tmp_path, "r3", INDEX_T2, "r2")
    r = run_cli("check", "-c", str(ini), "--changed-since", "main", "--baseline", str(baseline), env=GIT_ENV)
    assert r.returncode == 1, r.stderr
    assert "UNSAFE r3" in r.stdout and "r2" not in r.stdout.replace("revises r2", "")
    assert "1 revisions: 1 unsafe" in r.stdout


def test_bad_baseline_file_is_exit_2(tmp_path):
    ini = make_project(tmp_path, [("r1", TABLE_T)])
    r = run_cli("check", "-c", str(ini), "--baseline", str(tmp_path / "missing.json"))
    assert r.returncode == 2 and "no such baseline file" in r.stderr and "Traceback" not in r.stderr
    bad = tmp_path / "bad.json"
    bad.write_text("{not json")
    r = run_cli("check", "-c", str(ini), "--baseline", str(bad))
    assert r.returncode == 2 and "bad.json:1: the baseline is not valid JSON" in r.stderr


def test_baseline_key_ignores_lines_formatting_and_constants_and_counts_copies():
    assert sql_fingerprint("CREATE INDEX ix ON t (a)") == sql_fingerprint("create  index ix\n  on t(a) -- x")
    assert sql_fingerprint("UPDATE t SET a = 1 WHERE id = 5") == sql_fingerprint("UPDATE t SET a = 2 WHERE id = 7")
    assert sql_fingerprint("CREATE INDEX ix ON t (a)") != sql_fingerprint("CREATE INDEX ix ON t (b)")
    assert sql_fingerprint("ALTER TABEL t").startswith("text:")

    def revision(lines):
        rev = RevisionTrace(revision="r1", down_revision=None, path="r1.py")
        for i, line in enumerate(lines):
            rev.statements.append(Statement(sql="UPDATE t SET a = 0", revision="r1", index=i, line=line))
            rev.findings.append(Finding(rule="backfill-in-migration-transaction", severity="error", message="m",
                                        revision="r1", line=line, table="t", statement_index=i))
        return rev

    old = revision([10])
    baseline = Baseline(path="b.json")
    baseline.keys[finding_key(old.findings[0], old)] += 1
    new = revision([14, 20])  # moved down, and a second copy of the same statement
    assert apply_baseline(baseline, [new]) == (1, 0)
    assert [f.suppressed for f in new.findings] == ["baseline", None]
    assert new.verdict == "unsafe"
    assert apply_baseline(baseline, [revision([])]) == (0, 1)  # the entry matches nothing: stale
