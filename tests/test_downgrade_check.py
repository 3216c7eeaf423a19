"""Each revision's downgrade() run on the real shadow after its upgrade() (capture/downgrade.py) and
the rule downgrade-does-not-restore-schema; the check-downgrades option on and off (check.py)."""

from __future__ import annotations

from pathlib import Path

from alembic_guard.capture.downgrade import check_downgrades, revisions_to_check
from alembic_guard.capture.project import load_project
from alembic_guard.capture.runner import Runner
from alembic_guard.check import CheckOptions, run_check
from alembic_guard.judge import judge
from alembic_guard.rules.downgrade_does_not_restore_schema import DowngradeDoesNotRestoreSchema
from tests.projects.factory import Revision, make_project

RULE = DowngradeDoesNotRestoreSchema.id

TABLE = 'op.create_table("t", sa.Column("id", sa.BigInteger, primary_key=True), sa.Column("a", sa.Text))'


def traced(shadow, dbname: str, tmp_path: Path, revisions: list[Revision]):
    """Trace ``revisions`` on the shadow, run every downgrade, judge with the rule alone."""
    ini = make_project(tmp_path, revisions, env="ini_no_logging")
    project = load_project(str(ini))
    revs = Runner(project, shadow, dbname).run()
    assert all(r.error is None for r in revs), [r.error for r in revs]
    notes = check_downgrades(project, shadow, revs, [r.revision for r in revs])
    judge(revs, shadow.version_num, rules=[DowngradeDoesNotRestoreSchema()])
    return {r.revision: r for r in revs}, notes


def messages(rev) -> list[str]:
    return [f.message for f in rev.findings if f.rule == RULE]


def test_faithful_downgrades_are_quiet(shadow, dbname, tmp_path):
    revs, notes = traced(shadow, dbname, tmp_path, [
        Revision("r1", TABLE, downgrade='op.drop_table("t")'),
        Revision("r2", 'op.add_column("t", sa.Column("b", sa.Integer, nullable=False, server_default="0"))\n'
                       'op.create_index("ix_t_b", "t", ["b"])',
                 downgrade='op.drop_index("ix_t_b", table_name="t")\nop.drop_column("t", "b")'),
        # the re-added column comes back last: column order is not compared
        Revision("r3", 'op.drop_column("t", "a")', downgrade='op.add_column("t", sa.Column("a", sa.Text))'),
        Revision("r4", 'op.create_table("u", sa.Column("id", sa.Integer, primary_key=True), '
                       'sa.Column("t_id", sa.BigInteger, sa.ForeignKey("t.id")))\n'
                       'op.execute("CREATE VIEW v AS SELECT id FROM u")',
                 downgrade='op.execute("DROP VIEW v")\nop.drop_table("u")'),
    ])
    for rev in revs.values():
        assert rev.downgrade is not None and rev.downgrade.restores, (rev.revision, rev.downgrade)
        assert not messages(rev), messages(rev)
    assert notes and notes[0].startswith("downgrade check: 4 revision(s)"), notes


def test_broken_downgrades_are_named(shadow, dbname, tmp_path):
    revs, _ = traced(shadow, dbname, tmp_path, [
        Revision("r1", TABLE, downgrade='op.drop_table("t")'),
        # forgets the index
        Revision("r2", 'op.add_column("t", sa.Column("c", sa.Integer))\nop.create_index("ix_t_a", "t", ["a"])',
                 downgrade='op.drop_column("t", "c")'),
        # re-adds the column with another type
        Revision("r3", 'op.drop_column("t", "a")',
                 downgrade='op.add_column("t", sa.Column("a", sa.String(50)))'),
        # raises: the index it drops does not exist
        Revision("r4", 'op.add_column("t", sa.Column("d", sa.Integer))',
                 downgrade='op.drop_column("t", "d")\nop.drop_index("ix_missing", table_name="t")'),
        # a faithful one after the broken ones is still checked, and quiet
        Revision("r5", 'op.create_index("ix_t_id", "t", ["id"])', downgrade='op.drop_index("ix_t_id", "t")'),
    ])
    (m2,) = messages(revs["r2"])
    assert "index ix_t_a is left behind" in m2, m2
    (f2,) = [f for f in revs["r2"].findings if f.rule == RULE]
    assert f2.severity == "warning" and 'op.drop_index(\'ix_t_a\', table_name=\'t\')' in f2.fix, f2.fix
    assert Path(f2.path).read_text().splitlines()[f2.line - 1].startswith("def downgrade"), f2.line
    (m3,) = messages(revs["r3"])
    assert "column t.a comes back as character varying(50), was text" in m3, m3
    (f4,) = [f for f in revs["r4"].findings if f.rule == RULE]
    assert 'index "ix_missing" does not exist' in f4.message, f4.message
    assert Path(f4.path).read_text().splitlines()[f4.line - 1].strip().startswith("op.drop_index"), f4.line
    assert f4.message.startswith('downgrade() fails on the shadow: index "ix_missing" does not exist'), f4.message
    assert not messages(revs["r5"]) and revs["r5"].downgrade.restores


def test_empty_and_deliberately_irreversible_downgrades_are_not_reported(shadow, dbname, tmp_path):
    revs, _ = traced(shadow, dbname, tmp_path, [
        Revision("r1", TABLE, downgrade="pass"),  # missing-downgrade's case: not run at all
        Revision("r2", 'op.drop_column("t", "a")',
                 downgrade='raise NotImplementedError("irreversible: the data of t.a is gone")'),
        # a table left behind, a primary key (and its index) back under another name
        Revision("r3", 'op.create_table("w", sa.Column("id", sa.Integer))\n'
                       'op.drop_constraint("t_pkey", "t", type_="primary")',
                 downgrade='op.create_primary_key("pk_t", "t", ["id"])'),
    ])
    assert revs["r1"].downgrade is None and not messages(revs["r1"])
    assert revs["r2"].downgrade.irreversible and not messages(revs["r2"]), revs["r2"].downgrade
    (m3,) = messages(revs["r3"])
    assert "table w is left behind" in m3 and "constraint t.t_pkey comes back named pk_t" in m3, m3
    assert "index" not in m3, m3  # the primary key's index is renamed with it: not a difference of its own
    assert "column w.id" not in m3, m3  # the parts of a left-behind table are not listed again


def test_branches_are_checked_apart_and_a_merge_point_is_left_out(shadow, dbname, tmp_path):
    revs, notes = traced(shadow, dbname, tmp_path, [
        Revision("r1", TABLE, None, 'op.drop_table("t")'),
        Revision("r2a", 'op.create_index("ix_a", "t", ["a"])', "r1", 'op.drop_index("ix_a", "t")'),
        Revision("r2b", 'op.create_index("ix_b", "t", ["id", "a"])', "r1", 'op.execute("SELECT 1")'),
        Revision("r3", 'op.add_column("t", sa.Column("c", sa.Integer))', ("r2a", "r2b"),
                 'op.drop_column("t", "c")'),
        Revision("r4", 'op.add_column("t", sa.Column("d", sa.Integer))', "r3", 'op.drop_column("t", "d")'),
    ])
    assert messages(revs["r2b"]) == ["downgrade() does not restore the schema upgrade() started from: "
                                     "index ix_b is left behind."]
    # the other branch's index is no business of r2a's downgrade, nor of r4's
    assert revs["r2a"].downgrade.restores and revs["r4"].downgrade.restores
    assert revs["r3"].downgrade is None and any("merge revision(s) r3 not checked" in n for n in notes), notes


def test_revisions_to_check_by_mode():
    from alembic_guard.model import RevisionTrace

    from alembic_guard.model import Statement

    revs = [RevisionTrace(revision=r, down_revision=None, path=f"{r}.py", statements=[Statement(sql="SELECT 1", index=0,
                                                                                                revision=r)])
            for r in ("a", "b", "c", "d")]
    revs[2].error = "boom"
    revs[3].statements = []  # ran nothing: nothing to undo
    assert revisions_to_check(True, revs) == ["a", "b"]
    assert revisions_to_check(False, revs, from_rev="a") == []
    assert revisions_to_check("auto", revs) == []
    assert revisions_to_check(None, revs, from_rev="x") == ["a", "b"]
    assert revisions_to_check("auto", revs, changed={"b", "c"}) == ["b"]


def _shadow_url(shadow) -> str:
    auth = shadow.user + (f":{shadow.password}" if shadow.password else "")
    return f"postgresql://{auth}@/{shadow.admin_db}?host={shadow.host}&port={shadow.port}"


def test_option_on_and_off(shadow, tmp_path):
    ini = make_project(tmp_path, [
        Revision("r1", TABLE, downgrade='op.drop_table("t")'),
        Revision("r2", 'op.create_index("ix_t_a", "t", ["a"])', downgrade='op.execute("SELECT 1")'),
    ], env="ini_no_logging")

    def check(**kw):
        report = run_check(CheckOptions(config_file=str(ini), shadow_url=_shadow_url(shadow), **kw))
        return {r.revision: r for r in report.revisions}, report.notes

    # a full-history check: off by default
    revs, notes = check()
    assert revs["r2"].downgrade is None and not any(f.rule == RULE for f in revs["r2"].findings)
    assert not any(n.startswith("downgrade check") for n in notes), notes
    # --from: the revisions reported are checked
    revs, notes = check(from_rev="r1")
    assert any(f.rule == RULE and "ix_t_a is left behind" in f.message for f in revs["r2"].findings)
    assert any(n.startswith("downgrade check: 1 revision(s)") for n in notes), notes
    revs, _ = check(from_rev="r1", check_downgrades=False)
    assert revs["r2"].downgrade is None
    # the flag / the config key: every revision
    revs, _ = check(check_downgrades=True)
    assert revs["r1"].downgrade.restores and not revs["r2"].downgrade.restores
    (tmp_path / "pyproject.toml").write_text('[tool.alembic-guard]\ncheck-downgrades = true\n')
    revs, _ = check()
    assert revs["r2"].downgrade is not None
    # a disabled rule costs nothing
    revs, _ = check(disabled_rules=[RULE])
    assert revs["r2"].downgrade is None


def test_changed_since_checks_only_the_changed_revisions(shadow, tmp_path):
    from tests.test_changed_since import commit_all, git

    r1 = Revision("r1", TABLE, downgrade='op.execute("SELECT 1")')  # leaves t behind: unchanged, not checked
    r2 = Revision("r2", 'op.create_index("ix_t_a", "t", ["a"])', downgrade='op.execute("SELECT 1")')
    ini = make_project(tmp_path, [r1], env="ini_no_logging")
    git(tmp_path, "init", "-q", "-b", "main")
    commit_all(tmp_path, "r1")
    make_project(tmp_path, [r1, r2], env="ini_no_logging")  # r2 new, uncommitted
    report = run_check(CheckOptions(config_file=str(ini), shadow_url=_shadow_url(shadow), changed_since="HEAD"))
    (rev,) = report.revisions
    assert rev.revision == "r2" and any("ix_t_a is left behind" in f.message for f in rev.findings), rev.findings
    assert any(n.startswith("downgrade check: 1 revision(s)") for n in report.notes), report.notes


def test_views_functions_sequences_and_enum_labels_are_compared(shadow, dbname, tmp_path):
    revs, _ = traced(shadow, dbname, tmp_path, [
        Revision("r1", TABLE + '\nop.execute("CREATE VIEW v AS SELECT id FROM t")\n'
                 'op.execute("CREATE SEQUENCE s")\nop.execute("CREATE TYPE mood AS ENUM (\'ok\')")',
                 downgrade='op.execute("DROP VIEW v; DROP SEQUENCE s; DROP TYPE mood")\nop.drop_table("t")'),
        Revision("r2", 'op.execute("CREATE OR REPLACE VIEW v AS SELECT id, a FROM t")\n'
                       'op.execute("CREATE FUNCTION f() RETURNS int LANGUAGE sql AS \'SELECT 1\'")\n'
                       'op.execute("ALTER SEQUENCE s INCREMENT BY 10")\n'
                       'op.execute("ALTER TYPE mood ADD VALUE \'sad\'")',
                 downgrade='op.execute("ALTER SEQUENCE s INCREMENT BY 1")'),
    ])
    assert not messages(revs["r1"]), messages(revs["r1"])
    (m,) = messages(revs["r2"])
    assert "function f() is left behind" in m and "enum type mood comes back with labels [ok, sad], was [ok]" in m, m
    assert "view v comes back with definition" in m and "column v.a is left behind" in m, m
    assert "sequence s" not in m, m  # restored
