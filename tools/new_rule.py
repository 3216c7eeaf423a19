"""Scaffold a new rule: ``python tools/new_rule.py my-rule-id "Title"``.

Writes, for rule id ``my-rule-id`` (module ``my_rule_id``):

- ``alembic_guard/rules/my_rule_id.py``: the Rule subclass (registered with ``@register``, imported by
  ``alembic_guard/rules/catalog.py``, where its name is added in order);
- ``alembic_guard/recipes/<recipe>.py``: the Recipe stub answering it, with one Example to fill
  (``--recipe`` names it; default: the rule id), unless that recipe exists already;
- ``tests/rules/test_my_rule_id.py``: a test on the real shadow (tests.helpers.run_one);

then runs the two docs generators (``docs/rules``, ``docs/recipes``). Nothing is overwritten.
``--root`` points at another checkout (the test runs it on a temporary copy).
"""

from __future__ import annotations

import argparse
import os
import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
RULE_ID = re.compile(r"^[a-z][a-z0-9]*(-[a-z0-9]+)+$")
CATALOG_IMPORTS = "from . import (  # noqa: F401\n"

RULE = '''\
"""{title} (a rule: see alembic_guard/rules/base.py; its hint and examples come from the recipe
``{recipe}``, alembic_guard/recipes/{recipe_module}.py)."""

from pglast import ast  # noqa: F401  (the statement nodes the check matches)

from ..sql import range_name
from ._common import failed
from .base import PG_DOCS, Rule, register
from .recipe_hint import example, hint_for

# The pglast statement node(s) this rule judges, e.g. (ast.AlterTableStmt,). TODO
NODES: tuple[type, ...] = ()


@register
class {cls}(Rule):
    id = "{rule_id}"
    title = "{title}"
    severity = "error"
    docs = PG_DOCS + "explicit-locking.html"  # TODO: the docs page of the statement
    rationale = (
        "TODO: which lock the statement takes and what it blocks, whether it rewrites or scans the table, "
        "and the safe form, citing the PostgreSQL docs."
    )
    bad_example, good_example = example("{recipe}")

    def check(self, ctx):
        node = ctx.node
        if failed(ctx) or not isinstance(node, NODES):
            return
        table = range_name(node.relation)
        if not ctx.preexisting(table):
            return  # a table created by this revision is empty: no risk
        mode = ctx.strongest_lock(table)
        yield self.finding(ctx, f"TODO: what happens to {{table}} under {{mode}}.", table=table,
                           fix=hint_for(self.id, ctx))
'''

RECIPE = '''\
"""{title}: the one safe form (a recipe: see alembic_guard/recipes/base.py)."""

from __future__ import annotations

from .base import Example, Recipe


class {cls}(Recipe):
    id = "{recipe}"
    title = "{title}"
    rules = ("{rule_id}",)
    ops: tuple[str, ...] = ()  # the op.<name> calls rewrite_op rewrites. TODO
    nodes: tuple[type, ...] = ()  # the pglast statement nodes rewrite_sql rewrites. TODO
    rationale = "TODO: why the safe form is safe, citing the PostgreSQL docs page it rests on."
    docs = "https://www.postgresql.org/docs/current/explicit-locking.html"  # TODO
    examples = (
        Example(
            title="TODO",
            setup='op.execute("CREATE TABLE orders (id bigint PRIMARY KEY, note text)")',
            bad='op.execute("TODO: the unsafe statement on orders")',
            good='op.execute("TODO: its safe form")',
            fixed="rewrite",  # or "plan": fix refuses with an expand/contract plan
        ),
    )

    def rewrite_op(self, call, facts):
        """TODO: the safe form of an ``op.<name>(...)`` call (Outcome), or None."""
        return None

    def rewrite_sql(self, node, facts):
        """TODO: change ``node`` (pglast) into its online form and return a SqlRewrite; raise
        Refusal(reason, plan=[PlanStep(...)]) when one revision cannot make it safe."""
        return None
'''

TEST = '''\
"""{rule_id}: {title} (alembic_guard/rules/{module}.py), on the real shadow PostgreSQL."""

from __future__ import annotations

from helpers import describe, findings, run_one

SETUP = "CREATE TABLE orders (id bigint PRIMARY KEY, note text); INSERT INTO orders VALUES (1, 'n');"
BAD = 'op.execute("TODO: the unsafe statement on orders")'
GOOD = 'op.execute("TODO: its safe form")'


def test_fires_on_an_existing_table(shadow, dbname, tmp_path):
    rev = run_one(shadow, dbname, tmp_path, BAD, setup=SETUP)
    [finding] = findings(rev, "{rule_id}")
    assert finding.table == "orders" and finding.fix, describe(rev)
    compile(finding.fix, "<hint>", "exec")


def test_quiet_on_the_safe_form(shadow, dbname, tmp_path):
    rev = run_one(shadow, dbname, tmp_path, GOOD, setup=SETUP)
    assert not findings(rev, "{rule_id}"), describe(rev)
'''


def camel(rule_id: str) -> str:
    return "".join(part.capitalize() for part in rule_id.split("-"))


def register_in_catalog(catalog: Path, module: str) -> None:
    """Add ``module`` to the sorted ``from . import (...)`` list of rules/catalog.py."""
    text = catalog.read_text()
    start = text.index(CATALOG_IMPORTS) + len(CATALOG_IMPORTS)
    end = text.index(")", start)
    names = {ln.strip().rstrip(",") for ln in text[start:end].splitlines() if ln.strip()}
    names.add(module)
    body = "".join(f"    {name},\n" for name in sorted(names))
    catalog.write_text(text[:start] + body + text[end:])


def scaffold(root: Path, rule_id: str, title: str, recipe: str | None = None) -> list[Path]:
    """Write the files (see module doc); returns them. Raises SystemExit for a bad id or a file that
    exists."""
    if not RULE_ID.match(rule_id):
        raise SystemExit(f"rule id {rule_id!r}: lowercase words joined by '-', e.g. add-column-volatile-default")
    recipe = recipe or rule_id
    if not RULE_ID.match(recipe):
        raise SystemExit(f"recipe id {recipe!r}: lowercase words joined by '-'")
    module, recipe_module = rule_id.replace("-", "_"), recipe.replace("-", "_")
    fields = dict(rule_id=rule_id, title=title.replace('"', "'"), module=module, recipe=recipe,
                  recipe_module=recipe_module, cls=camel(rule_id))
    rule_path = root / "alembic_guard" / "rules" / f"{module}.py"
    recipe_path = root / "alembic_guard" / "recipes" / f"{recipe_module}.py"
    test_path = root / "tests" / "rules" / f"test_{module}.py"
    for path in (rule_path, test_path):
        if path.exists():
            raise SystemExit(f"{path} exists; nothing written")
    written = [rule_path, test_path]
    rule_path.write_text(RULE.format(**fields))
    test_path.write_text(TEST.format(**fields))
    if not recipe_path.exists():  # a recipe may answer several rules: reuse it, the author adds the id
        recipe_path.write_text(RECIPE.format(**{**fields, "cls": camel(recipe)}))
        written.append(recipe_path)
    register_in_catalog(root / "alembic_guard" / "rules" / "catalog.py", module)
    return written


def generate_docs(root: Path) -> None:
    """Run the rules and recipes docs generators of the checkout at ``root``."""
    env = {**os.environ, "PYTHONPATH": str(root) + os.pathsep + os.environ.get("PYTHONPATH", "")}
    for generator in ("alembic_guard.rules.docs", "alembic_guard.recipes.docs"):
        subprocess.run([sys.executable, "-m", generator], cwd=root, env=env, check=True)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("rule_id", help="e.g. add-column-volatile-default")
    parser.add_argument("title", help="one line: what the rule reports")
    parser.add_argument("--recipe", help="id of the recipe that answers it (default: the rule id)")
    parser.add_argument("--root", type=Path, default=ROOT, help="the checkout to write into (default: this one)")
    parser.add_argument("--no-docs", action="store_true", help="do not run the docs generators")
    args = parser.parse_args(argv)
    root = args.root.resolve()
    for path in scaffold(root, args.rule_id, args.title, args.recipe):
        print(f"wrote {path.relative_to(root)}")
    if not args.no_docs:
        generate_docs(root)
    return 0


if __name__ == "__main__":
    sys.exit(main())
