"""Every recipe's examples, run on the real shadow PostgreSQL (alembic_guard/recipes).

For each example (``setup`` revision, then ``bad`` or ``good`` or the hint as the second revision):

- the recipe's rule fires on ``bad``; ``good`` has no error finding at all (but a suppressed one,
  with its reason: the contract step of a plan);
- the hint ``check`` prints for ``bad`` compiles; when it is code (not a plan) it runs after ``setup``
  without an error finding and ends in the same schema as ``bad``;
- ``fix`` on ``bad`` either proves a rewrite (same final schema on seeded data, no dangerous lock over
  budget) or, for ``fixed="plan"``, refuses it with a plan.
"""

from __future__ import annotations

import textwrap

import pytest

from alembic_guard.recipes import all_recipes
from alembic_guard.recipes.docs import stale
from alembic_guard.rewrite.fix import run_fix
from alembic_guard.schema_compare import compare_catalogs, read_catalog
from alembic_guard.shadow import scratch_database
from tests.helpers import describe, run_revisions, write_project

CASES = [pytest.param(r, i, id=f"{r.id}-{i}") for r in all_recipes() for i in range(len(r.examples))]


def _rule(recipe, example) -> str:
    return example.rule or recipe.rules[0]


def _run(shadow, tmp_path, name: str, setup: str, body: str):
    """Trace ``setup`` then ``body`` in a fresh database; return (second revision, its final catalog)."""
    with scratch_database(shadow) as db:
        revs = run_revisions(shadow, db, tmp_path / name, [setup, body])
        return revs[-1], read_catalog(shadow.conninfo(db))


def _is_code(text: str) -> bool:
    return any(ln.strip() and not ln.lstrip().startswith("#") for ln in text.splitlines())


@pytest.mark.parametrize("recipe, index", CASES)
def test_example(shadow, tmp_path, recipe, index):
    ex = recipe.examples[index]
    rule = _rule(recipe, ex)
    bad, bad_catalog = _run(shadow, tmp_path, "bad", ex.setup, ex.bad)
    fired = [f for f in bad.findings if f.rule == rule]
    assert fired, f"{rule} does not fire on bad:\n{describe(bad)}"
    good, good_catalog = _run(shadow, tmp_path, "good", ex.setup, ex.good)
    assert not good.error, describe(good)
    # a contract step (drop a column no code uses) says so with a suppression and its reason
    assert not [f for f in good.findings if f.severity == "error" and not f.suppressed], describe(good)

    hint = fired[0].fix
    assert hint, f"{rule} gives no hint on bad"
    compile(textwrap.dedent(hint), f"<hint of {rule}>", "exec")
    if _is_code(hint) and ex.fixed == "rewrite":
        hinted, hint_catalog = _run(shadow, tmp_path, "hint", ex.setup, hint)
        assert not hinted.error, describe(hinted)
        assert not [f for f in hinted.findings if f.severity == "error"], f"hint:\n{hint}\n{describe(hinted)}"
        # a bad that cannot run at all (CONCURRENTLY inside the transaction) has no schema: match good's
        expected = good_catalog if bad.error else bad_catalog
        assert not compare_catalogs(expected, hint_catalog), f"hint changes the schema:\n{hint}"

    ini = write_project(tmp_path / "fix", [ex.setup, ex.bad])
    report = run_fix(str(ini), ["r2"], server=shadow)
    (fx,) = report.revisions
    if ex.fixed == "rewrite":
        assert fx.rewrites and all(r.accepted for r in fx.rewrites if r.after), \
            [(r.kind, r.what, r.refused, r.rejected_because) for r in fx.rewrites]
        assert any(r.accepted for r in fx.rewrites), [(r.kind, r.refused, r.rejected_because) for r in fx.rewrites]
    else:
        assert any(r.refused and r.plan for r in fx.rewrites), [(r.kind, r.refused) for r in fx.rewrites]


def test_every_recipe_has_a_runnable_example_and_answers_real_rules():
    from alembic_guard.rules import all_rules

    ids = {r.id for r in all_rules()}
    for r in all_recipes():
        assert r.examples, f"{r.id} has no example"
        assert r.rationale.strip(), f"{r.id} has no rationale"
        assert set(r.rules) <= ids, f"{r.id} answers unknown rules {set(r.rules) - ids}"


def test_committed_recipe_docs_are_current():
    assert not stale(), "run `python -m alembic_guard.recipes.docs` and commit"
