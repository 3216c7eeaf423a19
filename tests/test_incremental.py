"""Incremental checks (alembic_guard/incremental) on the real warm cluster: a second check of the same
history traces nothing, an appended revision is the only one traced, an edited one is traced again,
--no-cache, --from/--to, and a dropped template or a killed run fall back to a full trace.

The module runs on its own cache directory (one initdb for the module), so the warm cluster is this
module's and not the test session's shadow (whose lock makes other runs use private copies).
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import psycopg
import pytest

from alembic_guard.check import CheckOptions, run_check
from alembic_guard.incremental import templates
from alembic_guard.report import render
from alembic_guard.report.text import render_text
from alembic_guard.shadow import obtain_shadow
from tests.conftest import test_provider
from tests.projects.factory import make_project

PROVIDER = test_provider() or "local"
ROOT = Path(__file__).resolve().parents[1]


def _body(i: int, prefix: str) -> str:
    if i == 0:
        return (f'op.create_table("{prefix}t", sa.Column("id", sa.BigInteger, primary_key=True), '
                'sa.Column("name", sa.String(50)))')
    if i % 3 == 1:
        return f'op.add_column("{prefix}t", sa.Column("c{i}", sa.Integer))'
    if i % 3 == 2:
        return f'op.create_index("ix_{prefix}{i}", "{prefix}t", ["name"])'  # an error each time
    return f'op.alter_column("{prefix}t", "c{i - 2}", nullable=False)'  # a full scan under AEL


def _project(root: Path, prefix: str, count: int = 12) -> Path:
    # distinct revision ids per test: the keys are content hashes, so equal projects share a cache
    return make_project(root, [(f"{prefix}{i:03d}", _body(i, prefix)) for i in range(count)])


def _append(ini: Path, prefix: str, i: int) -> None:
    versions = ini.parent / "migrations" / "versions"
    previous = f"{prefix}{i - 1:03d}"
    (versions / f"{prefix}{i:03d}.py").write_text(textwrap.dedent(f'''\
        """revision {prefix}{i:03d}"""
        from alembic import op
        import sqlalchemy as sa

        revision = "{prefix}{i:03d}"
        down_revision = "{previous}"


        def upgrade():
            {_body(i, prefix)}


        def downgrade():
            pass
        '''))


@pytest.fixture(scope="module", autouse=True)
def own_cache(tmp_path_factory):
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("ALEMBIC_GUARD_CACHE", str(tmp_path_factory.mktemp("inc-cache")))
        yield


def check(ini: Path, **kw):
    return run_check(CheckOptions(config_file=str(ini), shadow=PROVIDER, **kw))


def findings(report) -> list[tuple]:
    return sorted((f.revision, f.rule, f.severity, f.line, f.message) for f in report.findings())


def cached(report) -> list[str]:
    return [r.revision for r in report.revisions if r.cached]


def test_second_check_traces_nothing_and_finds_the_same(tmp_path):
    ini = _project(tmp_path, "a")
    cold = check(ini)
    assert cached(cold) == [] and len(cold.revisions) == 12
    assert findings(cold)  # the project has errors: a judgement to reproduce
    warm = check(ini)
    assert len(cached(warm)) == 12 and [r.revision for r in warm.revisions] == [r.revision for r in cold.revisions]
    assert findings(warm) == findings(cold)
    assert [r.verdict for r in warm.revisions] == [r.verdict for r in cold.revisions]
    assert any("12 revision(s) reused from the incremental cache" in n and "0 traced" in n for n in warm.notes)
    doc = json.loads(render(warm, "json"))
    assert all(r["cached"] is True for r in doc["revisions"])
    assert "reused from the incremental cache" in render_text(warm)
    # the judgement is today's: a disabled rule disappears without invalidating anything
    rule = findings(cold)[0][1]
    fewer = check(ini, disabled_rules=[rule])
    assert len(cached(fewer)) == 12 and rule not in {f[1] for f in findings(fewer)}


def test_appended_revision_is_the_only_one_traced(tmp_path):
    ini = _project(tmp_path, "b")
    check(ini)
    _append(ini, "b", 12)
    t0 = time.perf_counter()
    warm = check(ini)
    warm_s = time.perf_counter() - t0
    assert len(warm.revisions) == 13 and cached(warm) == [f"b{i:03d}" for i in range(12)]
    new = warm.revisions[-1]
    assert new.revision == "b012" and not new.cached and new.statements
    full = check(ini, no_cache=True)
    assert cached(full) == [] and findings(warm) == findings(full)
    # and the next check starts from the new head
    assert len(cached(check(ini))) == 13
    assert warm_s < 30  # loose: the benchmark measures; this only catches a full retrace gone wrong


@pytest.mark.parametrize("where", ["beside", "outside"])
def test_a_changed_file_a_revision_reads_is_traced_again(tmp_path, where):
    """The SQL a revision reads from a file (beside it, or anywhere else) is an input of the cache like
    the revision file itself (capture/inputs.py): edited, it is traced again, never reused stale."""
    sql = (tmp_path / "p" / "migrations" / "versions" / "sql" if where == "beside" else tmp_path / "elsewhere") / "r2.sql"
    sql.parent.mkdir(parents=True)
    sql.write_text("SELECT 1")
    ini = make_project(tmp_path / "p", [
        ("r1", 'op.execute("CREATE TABLE t (id int PRIMARY KEY, a int)")'),
        ("r2", f"import pathlib\nop.execute(pathlib.Path({str(sql)!r}).read_text())"),
    ])
    assert [r.verdict for r in check(ini).revisions] == ["safe", "safe"]
    assert len(cached(check(ini))) == 2  # unchanged: reused
    sql.write_text("CREATE INDEX ix_t_a ON t (a)")
    after = check(ini)
    assert "r2" not in cached(after), after.notes
    assert any("r2.sql" in n and "traced again" in n for n in after.notes), after.notes
    assert "CREATE INDEX" in after.revisions[-1].statements[0].sql  # the new SQL, not the cached one
    assert findings(after) == findings(check(ini, no_cache=True))


def test_a_program_a_revision_starts_makes_it_unknown(tmp_path):
    ini = make_project(tmp_path, [("r1", 'op.execute("CREATE TABLE t (id int)")'),
                                  ("r2", 'import subprocess\nsubprocess.run(["true"], check=True)')])
    rev = check(ini, no_cache=True).revisions[-1]
    assert rev.verdict == "unknown" and any("starts a program (`true`)" in u for u in rev.unseen), rev.unseen


def test_edited_middle_revision_is_traced_again(tmp_path):
    ini = _project(tmp_path, "c")
    check(ini)
    edited = ini.parent / "migrations" / "versions" / "c005.py"
    # c005 created an index (an error); now it adds a nullable column (no error)
    edited.write_text(edited.read_text().replace('op.create_index("ix_c5", "ct", ["name"])',
                                                 'op.add_column("ct", sa.Column("c5", sa.Integer))'))
    after = check(ini)
    never_reused = {f"c{i:03d}" for i in range(5, 12)}
    assert not never_reused & set(cached(after))
    assert [f for f in findings(after) if f[0] == "c005" and f[2] == "error"] == []  # the index error is gone
    assert findings(after) == findings(check(ini, no_cache=True))


def test_no_cache_neither_reads_nor_writes(tmp_path):
    ini = _project(tmp_path, "d")
    first = check(ini, no_cache=True)
    second = check(ini, no_cache=True)
    assert cached(first) == cached(second) == []
    assert cached(check(ini)) == []  # nothing was written by the --no-cache runs
    assert len(cached(check(ini))) == 12


def test_to_and_from_stay_coherent(tmp_path):
    ini = _project(tmp_path, "e")
    upto5 = check(ini, to_rev="e005")
    assert [r.revision for r in upto5.revisions] == [f"e{i:03d}" for i in range(6)] and cached(upto5) == []
    upto8 = check(ini, to_rev="e008")  # starts from the e005 template
    assert cached(upto8) == [f"e{i:03d}" for i in range(6)] and len(upto8.revisions) == 9
    after3 = check(ini, from_rev="e003")  # the report starts after --from, cached or not
    assert [r.revision for r in after3.revisions] == [f"e{i:03d}" for i in range(4, 12)]
    assert cached(after3) == [f"e{i:03d}" for i in range(4, 9)]
    assert findings(after3) == findings(check(ini, from_rev="e003", no_cache=True))


def test_dropped_template_database_falls_back(tmp_path):
    ini = _project(tmp_path, "f")
    cold = check(ini)
    with obtain_shadow(PROVIDER) as server:  # the module's warm cluster, where the templates live
        with psycopg.connect(server.conninfo(server.admin_db), autocommit=True) as conn:
            rows = conn.execute("select datname from pg_database where datname like 'agtpl\\_%'").fetchall()
        templates.drop(server, [r[0] for r in rows])
    again = check(ini)
    assert cached(again) == [] and findings(again) == findings(cold)
    assert len(cached(check(ini))) == 12  # rebuilt


KILLER = """
import os, signal, sys
sys.path.insert(0, {root!r})
from alembic_guard.check import CheckOptions, run_check

def progress(n, total, rev, message):
    if n == 2:
        os.kill(os.getpid(), signal.SIGKILL)

run_check(CheckOptions(config_file={ini!r}, shadow={provider!r}), progress=progress)
"""


def _postmasters_gone(timeout: float = 20.0) -> None:
    """Wait until no postmaster of the module's cache still runs (the killed run's gets SIGINT)."""
    cache = Path(os.environ["ALEMBIC_GUARD_CACHE"])
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        pids = [p.read_text().split("\n", 1)[0] for p in cache.rglob("postmaster.pid")]
        if not pids:
            return
        time.sleep(0.1)


def test_killed_run_leaves_a_usable_cache(tmp_path):
    ini = _project(tmp_path, "g")
    check(ini)
    _append(ini, "g", 12)
    _append(ini, "g", 13)
    # a run killed in the middle of the trace (SIGKILL: no cleanup at all) …
    proc = subprocess.run([sys.executable, "-c", KILLER.format(root=str(ROOT), ini=str(ini), provider=PROVIDER)],
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == -signal.SIGKILL
    _postmasters_gone()
    # … does not poison the cache: the next run starts again from the last complete state
    after = check(ini)
    assert cached(after) in ([f"g{i:03d}" for i in range(12)], [f"g{i:03d}" for i in range(14)])
    assert findings(after) == findings(check(ini, no_cache=True))


# --- the judgement cache (incremental/judged.py): findings of reused traces, re-judged when an input changes


def rejudged(report) -> tuple[int, int] | None:
    """(reused, judged) from the judgement cache's note, None when it reused nothing."""
    for n in report.notes:
        if "judged by an earlier check" in n:
            words = n.split()
            return int(n.split(" revision(s)")[0]), int(words[words.index("judged", len(words) - 3) - 1])
    return None


def _pyproject(ini: Path, body: str) -> None:
    (ini.parent / "pyproject.toml").write_text("[tool.alembic-guard]\n" + body)


def test_unchanged_inputs_reuse_the_judgement_and_a_changed_config_judges_again(tmp_path):
    ini = _project(tmp_path, "h")
    cold = check(ini)
    first_warm = check(ini)  # traces reused; the cold run kept its findings as well
    assert rejudged(first_warm) == (12, 0) and findings(first_warm) == findings(cold)
    index_errors = [f for f in findings(cold) if f[1] == "create-index-non-concurrent"]
    assert index_errors and all(f[2] == "error" for f in index_errors)
    # a severity override in pyproject.toml: judged again, and the findings change
    _pyproject(ini, 'severity = { "create-index-non-concurrent" = "warning" }\n')
    softer = check(ini)
    assert len(cached(softer)) == 12 and rejudged(softer) is None
    assert {f[2] for f in findings(softer) if f[1] == "create-index-non-concurrent"} == {"warning"}
    assert rejudged(check(ini)) == (12, 0)  # and that judgement is reused in turn
    # back to no table at all: the first judgement again (still kept: several keys stay warm)
    (ini.parent / "pyproject.toml").unlink()
    back = check(ini)
    assert rejudged(back) == (12, 0) and findings(back) == findings(cold)
    # --disable is an input too
    fewer = check(ini, disabled_rules=["create-index-non-concurrent"])
    assert rejudged(fewer) is None and not [f for f in findings(fewer) if f[1] == "create-index-non-concurrent"]


def test_a_suppression_and_the_baseline_change_the_findings_of_reused_revisions(tmp_path):
    ini = _project(tmp_path, "i")
    cold = check(ini)
    # the baseline is applied after judgement, to fresh copies: it never enters the cache
    base = tmp_path / "baseline.json"
    accepted = check(ini, write_baseline=str(base))
    assert rejudged(accepted) == (12, 0)
    assert all(f.suppressed for f in accepted.findings())
    with_baseline = check(ini, baseline=str(base))
    assert rejudged(with_baseline) == (12, 0) and all(f.suppressed for f in with_baseline.findings())
    without = check(ini)
    assert rejudged(without) == (12, 0) and not any(f.suppressed for f in without.findings())
    assert findings(without) == findings(cold)
    # a suppression comment edits the revision file: that revision and the later ones are traced
    # and judged again (and, with no template before it, the earlier ones too: a trace made now is
    # judged now, capture/inputs.py)
    edited = ini.parent / "migrations" / "versions" / "i005.py"
    edited.write_text(edited.read_text().replace(
        'op.create_index("ix_i5", "it", ["name"])',
        'op.create_index("ix_i5", "it", ["name"])  # alembic-guard: ignore[create-index-non-concurrent] small'))
    after = check(ini)
    i005 = [f for f in after.findings() if f.revision == "i005" and f.rule == "create-index-non-concurrent"]
    assert i005 and all(f.suppressed == "small" for f in i005)
    assert rejudged(after) is None and not cached(after)
    assert findings(after) == findings(check(ini, no_cache=True))


def test_table_sizes_and_downgrades_are_judging_inputs(tmp_path):
    ini = _project(tmp_path, "j")
    check(ini)
    stats = tmp_path / "stats.json"
    stats.write_text(json.dumps({"tables": {"jt": {"rows": 5_000_000, "bytes": 1 << 30}}}))
    sized = check(ini, stats_file=str(stats))
    assert rejudged(sized) is None
    assert any("In production jt has ~5.0M rows" in f[4] for f in findings(sized))
    assert rejudged(check(ini, stats_file=str(stats))) == (12, 0)
    stats.write_text(json.dumps({"tables": {"jt": {"rows": 7_000_000, "bytes": 1 << 30}}}))
    resized = check(ini, stats_file=str(stats))
    assert rejudged(resized) is None and any("~7.0M rows" in f[4] for f in findings(resized))
    # a revision whose downgrade ran in this check is judged with that result, never from the cache
    last = ini.parent / "migrations" / "versions" / "j011.py"
    last.write_text(last.read_text().replace("def downgrade():\n    pass",
                                             'def downgrade():\n    op.drop_index("ix_j11", "jt")'))
    assert 'op.drop_index("ix_j11"' in last.read_text()
    check(ini)
    assert rejudged(check(ini)) == (12, 0)
    down = check(ini, check_downgrades=True)
    assert next(r for r in down.revisions if r.revision == "j011").downgrade is not None
    assert rejudged(down) == (11, 1)
    assert findings(down) == findings(check(ini, check_downgrades=True, no_cache=True))


def test_judgement_key_covers_each_input(tmp_path):
    from alembic_guard.incremental.judged import judgement_key
    from alembic_guard.stats import TableSize

    cfg = tmp_path / "pyproject.toml"
    cfg.write_text("[tool.alembic-guard]\n")
    base = dict(server_version_num=150000, disabled=["a"], severity={"b": "info"},
                sizes={"t": TableSize(1, 2)}, config_source=str(cfg))
    key = judgement_key(**base)
    assert judgement_key(**{**base, "disabled": ["a", "a"]}) == key  # a set: order and repeats do not count
    for change in ({"server_version_num": 160000}, {"disabled": []}, {"severity": {}},
                   {"sizes": {"t": TableSize(1, 3)}}, {"sizes": None}, {"config_source": None}):
        assert judgement_key(**{**base, **change}) != key, change
    cfg.write_text("[tool.alembic-guard]\nfail-on = 'warning'\n")
    assert judgement_key(**base) != key


def test_a_rule_registered_outside_the_package_is_in_the_judgement_key(tmp_path):
    from alembic_guard.incremental.judged import judgement_key
    from alembic_guard.rules import Rule, register
    from alembic_guard.rules.base import _REGISTRY

    base = dict(server_version_num=150000, disabled=[], severity={}, sizes=None, config_source=None)
    before = judgement_key(**base)

    @register
    class ProjectRule(Rule):  # a project's own rule, defined here: no file of the package
        id = "zz-project-rule"

    try:
        assert judgement_key(**base) != before
    finally:
        _REGISTRY.remove(ProjectRule)
    assert judgement_key(**base) == before


def test_a_stored_trace_restores_its_judging_facts_on_first_access():
    import pickle

    from alembic_guard.model import JUDGING_FACTS, RevisionTrace, TableFacts

    trace = RevisionTrace(revision="r1", down_revision=None, path="r1.py", preexisting={"public.t"},
                          preexisting_oids={16384}, unique_keys={"public.t": [("id",)]}, published={"public.t"},
                          tables={"public.t": TableFacts()})
    loaded = pickle.loads(pickle.dumps(trace.defer_facts()))
    assert all(name not in loaded.__dict__ for name in JUDGING_FACTS)  # still a blob
    assert loaded.tables == trace.tables and "_deferred_facts" not in loaded.__dict__
    assert loaded == trace and all(name in trace.__dict__ for name in JUDGING_FACTS)  # the original is untouched
    with pytest.raises(AttributeError):
        loaded.no_such_attribute  # noqa: B018 - only the deferred facts are served lazily


def _newest_database_oid() -> int:
    with obtain_shadow(PROVIDER, None, None) as server, \
            psycopg.connect(server.conninfo(server.admin_db), autocommit=True) as conn:
        return conn.execute("select max(oid::int8) from pg_database").fetchone()[0]


def test_a_warm_check_creates_only_the_databases_it_runs_in(tmp_path):
    # CREATE DATABASE costs 20-300 ms: a fully cached check creates none, a one-revision PR only its
    # clone of the template (which it keeps as the new template); the scratch database is not made
    ini = _project(tmp_path, "o", count=4)
    check(ini)
    before = _newest_database_oid()
    assert len(cached(check(ini))) == 4
    assert _newest_database_oid() == before
    _append(ini, "o", 4)
    warm = check(ini)
    assert len(cached(warm)) == 4 and not warm.revisions[-1].cached
    with obtain_shadow(PROVIDER, None, None) as server, \
            psycopg.connect(server.conninfo(server.admin_db), autocommit=True) as conn:
        created = conn.execute("select datname from pg_database where oid::int8 > %s", (before,)).fetchall()
    assert len(created) == 1 and created[0][0].startswith(templates.PREFIX)  # the clone, kept as the template


def _role_project(root: Path, prefix: str, role: str, extra: list[str] = ()) -> Path:
    revisions = [(f"{prefix}000", f'op.create_table("{prefix}t", sa.Column("id", sa.BigInteger, primary_key=True))'),
                 (f"{prefix}001", f'op.execute("CREATE ROLE {role} NOLOGIN")\n'
                                  f'op.execute("GRANT SELECT ON {prefix}t TO {role}")',
                  f"{prefix}000", f'op.execute("REVOKE SELECT ON {prefix}t FROM {role}")\n'
                                  f'op.execute("DROP ROLE {role}")')]
    revisions += [(f"{prefix}{i:03d}", body) for i, body in enumerate(extra, 2)]
    return make_project(root, revisions)


def _errors(report) -> list[tuple]:
    return [f for f in findings(report) if f[2] == "error"]


def test_a_role_one_check_created_does_not_fail_the_next(tmp_path):
    # roles are global to the cluster: an earlier check's CREATE ROLE must not make the same
    # CREATE ROLE fail in another project, an edited history, --no-cache or the downgrade check's replay
    a = _role_project(tmp_path / "a", "ra", "ag_test_reader")
    b = _role_project(tmp_path / "b", "rb", "ag_test_reader")
    assert _errors(check(a)) == []
    assert _errors(check(b)) == [] and cached(check(b)) == ["rb000", "rb001"]
    assert _errors(check(a, no_cache=True)) == []
    assert _errors(check(b, check_downgrades=True)) == []
    # a revision appended to a: the warm check starts from a's template, whose role is given back
    # its name (b's role of the same name parked), so that the GRANT finds a's role
    _append_body(a, "ra", 2, 'op.execute("GRANT INSERT ON rat TO ag_test_reader")')
    warm = check(a)
    assert cached(warm) == ["ra000", "ra001"] and _errors(warm) == []
    with obtain_shadow(PROVIDER) as server, \
            psycopg.connect(server.conninfo(server.admin_db), autocommit=True) as conn:
        names = [r[0] for r in conn.execute("select rolname from pg_roles where oid >= 16384")]
    assert names.count("ag_test_reader") == 1 and any(n.startswith("agparked_") for n in names)


def _append_body(ini: Path, prefix: str, i: int, body: str) -> None:
    (ini.parent / "migrations" / "versions" / f"{prefix}{i:03d}.py").write_text(textwrap.dedent(f'''\
        """revision {prefix}{i:03d}"""
        from alembic import op

        revision = "{prefix}{i:03d}"
        down_revision = "{prefix}{i - 1:03d}"


        def upgrade():
            {body}


        def downgrade():
            pass
        '''))


def test_a_parked_role_keeps_its_privileges_by_oid(tmp_path):
    # the PostgreSQL fact parking relies on: ACLs and ownership name a role by oid, so a role renamed
    # away and back (ALTER ROLE … RENAME) has its privileges again, in every database
    with obtain_shadow(PROVIDER) as server, \
            psycopg.connect(server.conninfo(server.admin_db), autocommit=True) as conn:
        conn.execute("CREATE ROLE ag_fact_role NOLOGIN")
        try:
            conn.execute("CREATE TABLE ag_fact_t (id int)")
            conn.execute("GRANT SELECT ON ag_fact_t TO ag_fact_role")
            conn.execute("ALTER ROLE ag_fact_role RENAME TO ag_fact_parked")
            with pytest.raises(psycopg.errors.DependentObjectsStillExist):
                conn.execute("DROP ROLE ag_fact_parked")
            conn.execute("ALTER ROLE ag_fact_parked RENAME TO ag_fact_role")
            assert conn.execute("select has_table_privilege('ag_fact_role', 'ag_fact_t', 'SELECT')").fetchone()[0]
        finally:
            conn.execute("DROP TABLE IF EXISTS ag_fact_t")
            conn.execute("DROP ROLE IF EXISTS ag_fact_role")


def test_a_template_whose_role_is_gone_is_not_started_from(tmp_path):
    ini = make_project(tmp_path, [("rg000", 'op.execute("CREATE ROLE ag_test_gone NOLOGIN")'),
                                  ("rg001", 'op.execute("COMMENT ON ROLE ag_test_gone IS \'x\'")')])
    assert _errors(check(ini)) == []
    with obtain_shadow(PROVIDER) as server, \
            psycopg.connect(server.conninfo(server.admin_db), autocommit=True) as conn:
        conn.execute("DROP ROLE ag_test_gone")
    again = check(ini)
    assert cached(again) == [] and _errors(again) == []
    assert any("ag_test_gone" in n and "is gone" in n for n in again.notes)


def test_production_roles_exist_on_the_shadow_and_a_missing_role_says_how(tmp_path):
    ini = make_project(tmp_path, [("rp000", 'op.create_table("rpt", sa.Column("id", sa.BigInteger, primary_key=True))'),
                                  ("rp001", 'op.execute("GRANT SELECT ON rpt TO ag_infra_reader")')])
    (error,) = _errors(check(ini))
    assert 'role "ag_infra_reader" does not exist' in error[4] and "production-roles" in error[4]
    _pyproject(ini, 'production-roles = ["ag_infra_reader"]')
    first = check(ini)  # the roles are in the trace key: nothing of the failed run is reused
    assert _errors(first) == [] and cached(first) == []
    assert _errors(check(ini, no_cache=True, check_downgrades=True)) == []
    assert cached(check(ini)) == ["rp000", "rp001"]


def test_a_setting_a_revision_gives_the_shadow_role_does_not_reach_the_next_run(tmp_path):
    # ALTER ROLE CURRENT_USER SET (no IN DATABASE) is stored for every database of the cluster
    ini = make_project(tmp_path, [("rs000", 'op.execute("ALTER ROLE CURRENT_USER SET statement_timeout = \'7s\'")'),
                                  ("rs001", 'op.execute("ALTER ROLE ALL SET lock_timeout = \'3s\'")'),
                                  ("rs002", 'with op.get_context().autocommit_block():\n'
                                            '    op.execute("ALTER SYSTEM SET idle_session_timeout = \'9s\'")')])
    assert _errors(check(ini)) == []
    other = _role_project(tmp_path / "o", "rs", "ag_test_settings")
    assert _errors(check(other, no_cache=True)) == []
    with obtain_shadow(PROVIDER) as server, \
            psycopg.connect(server.conninfo(server.admin_db), autocommit=True) as conn:
        assert conn.execute("show statement_timeout").fetchone()[0] == "0"
        assert conn.execute("show lock_timeout").fetchone()[0] == "0"
        # ALTER SYSTEM is in postgresql.auto.conf no more (the running server reloads it)
        assert conn.execute("select count(*) from pg_file_settings "
                            "where sourcefile like '%%postgresql.auto.conf'").fetchone()[0] == 0
