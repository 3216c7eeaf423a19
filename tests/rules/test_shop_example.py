"""End to end: the examples/shop project through load_project + Runner + judge on the shadow."""

from __future__ import annotations

from pathlib import Path

from alembic_guard.capture.project import load_project
from alembic_guard.capture.runner import Runner
from alembic_guard.judge import judge

SHOP = Path(__file__).resolve().parents[2] / "examples" / "shop" / "alembic.ini"
UNSAFE = {"0002", "0005", "0008", "0009", "0010", "0012"}
SAFE = {"0001", "0003", "0004", "0006", "0007", "0011"}
EXPECTED_ERRORS = {
    "0002": {"create-index-non-concurrent"},
    "0005": {"add-column-rewrites-table"},
    "0008": {"backfill-in-migration-transaction", "set-not-null-scans-table"},
    "0009": {"alter-column-type-rewrites"},
    "0010": {"rename-column"},
    "0012": {"unique-constraint-builds-index", "constraint-validated-in-place"},
}


def test_shop_verdicts(shadow, dbname):
    revisions = Runner(load_project(str(SHOP)), shadow, dbname).run()
    judge(revisions, shadow.version_num)
    verdicts = {r.revision: r.verdict for r in revisions}
    assert {r for r, v in verdicts.items() if v == "unsafe"} == UNSAFE, verdicts
    assert {r for r, v in verdicts.items() if v == "safe"} == SAFE, verdicts
    for rev in revisions:
        errors = {f.rule for f in rev.findings if f.severity == "error"}
        assert errors == EXPECTED_ERRORS.get(rev.revision, set()), (rev.revision, rev.findings)
        for f in rev.findings:
            assert f.fix and f.message and f.docs, f
