"""tools/new_rule.py scaffolds a rule, its recipe stub and its test, registers the rule and writes the
docs pages: run on a temporary copy of the checkout (``--root``), everything compiles and loads."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def copy_checkout(dest: Path) -> Path:
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc")
    shutil.copytree(ROOT / "alembic_guard", dest / "alembic_guard", ignore=ignore)
    shutil.copytree(ROOT / "tools", dest / "tools", ignore=ignore)
    for docs in ("rules", "recipes"):
        shutil.copytree(ROOT / "docs" / docs, dest / "docs" / docs)
    (dest / "tests" / "rules").mkdir(parents=True)
    return dest


def run(root: Path, *args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(root)}
    return subprocess.run([sys.executable, *args], cwd=root, env=env, capture_output=True, text=True, timeout=300)


def test_scaffold_compiles_registers_and_documents(tmp_path):
    root = copy_checkout(tmp_path / "checkout")
    done = run(root, "tools/new_rule.py", "add-widget-unsafely", "ADD WIDGET without a timeout",
               "--root", str(root))
    assert done.returncode == 0, done.stderr
    files = [root / "alembic_guard/rules/add_widget_unsafely.py", root / "alembic_guard/recipes/add_widget_unsafely.py",
             root / "tests/rules/test_add_widget_unsafely.py"]
    for path in files:
        compile(path.read_text(), str(path), "exec")
    catalog = (root / "alembic_guard/rules/catalog.py").read_text()
    names = [ln.strip().rstrip(",") for ln in catalog.split("from . import (")[1].split(")")[0].splitlines()[1:]
             if ln.strip()]
    assert "add_widget_unsafely" in names and names == sorted(names)
    assert (root / "docs/rules/add-widget-unsafely.md").exists()
    assert (root / "docs/recipes/add-widget-unsafely.md").exists()
    loaded = run(root, "-c", "from alembic_guard.rules import all_rules; from alembic_guard.recipes import recipe; "
                             "import alembic_guard.rules as r; print(r.__file__); "
                             "print('add-widget-unsafely' in {x.id for x in all_rules()}, "
                             "recipe('add-widget-unsafely').rules)")
    assert loaded.returncode == 0, loaded.stderr
    where, found = loaded.stdout.splitlines()
    assert where.startswith(str(root)) and found == "True ('add-widget-unsafely',)"
    again = run(root, "tools/new_rule.py", "add-widget-unsafely", "again", "--root", str(root), "--no-docs")
    assert again.returncode != 0 and "exists" in again.stderr


def test_bad_rule_id(tmp_path):
    root = copy_checkout(tmp_path / "checkout")
    done = run(root, "tools/new_rule.py", "Bad_Id", "Title", "--root", str(root), "--no-docs")
    assert done.returncode != 0 and "lowercase" in done.stderr
    assert not list((root / "tests/rules").iterdir())
