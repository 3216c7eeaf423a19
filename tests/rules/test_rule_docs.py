"""Every rule is complete, and the committed docs/rules pages match the rule classes."""

from __future__ import annotations

import re

import pytest

from alembic_guard.judge import generic_rule_ids
from alembic_guard.rules import all_rules
from alembic_guard.rules import docs as rule_docs

RULES = list(all_rules())


@pytest.mark.parametrize("rule", RULES, ids=[r.id for r in RULES])
def test_rule_is_complete(rule):
    assert re.fullmatch(r"[a-z0-9]+(-[a-z0-9]+)*", rule.id)
    assert rule.severity in ("error", "warning", "info")
    assert rule.title and len(rule.rationale) > 80
    assert rule.docs.startswith(("https://www.postgresql.org/docs/", "https://alembic.sqlalchemy.org/"))
    assert rule.bad_example and rule.good_example and rule.bad_example != rule.good_example
    for example in (rule.bad_example, rule.good_example):
        compile(example, rule.id, "exec")  # the examples are valid Python


def test_rule_ids_are_unique_and_generic_rules_exist():
    ids = [r.id for r in RULES]
    assert len(ids) == len(set(ids))
    assert generic_rule_ids() <= set(ids) and generic_rule_ids()


def test_committed_docs_are_current():
    stale = rule_docs.stale()
    assert not stale, f"run `python -m alembic_guard.rules.docs` and commit: {stale}"


def test_docs_generator_writes_every_page(tmp_path):
    rule_docs.write(tmp_path)
    assert {p.name for p in tmp_path.glob("*.md")} == {f"{r.id}.md" for r in RULES} | {"README.md", "compared.md"}
    assert rule_docs.main(["--check", "--dir", str(tmp_path)]) == 0
    (tmp_path / "truncate.md").write_text("old")
    assert rule_docs.main(["--check", "--dir", str(tmp_path)]) == 1
