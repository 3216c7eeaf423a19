"""The docs site builds (``mkdocs build --strict``) and its generated pages are current."""

from __future__ import annotations

import dataclasses
import os
import subprocess
import sys
from pathlib import Path

import pytest

from alembic_guard import config_docs
from alembic_guard.check_config import CheckConfig
from alembic_guard.settings import SETTING_NAMES

ROOT = Path(__file__).resolve().parents[1]


def test_mkdocs_build_strict(tmp_path):
    pytest.importorskip("mkdocs")
    pytest.importorskip("material")
    env = {**os.environ, "NO_MKDOCS_2_WARNING": "1"}
    r = subprocess.run([sys.executable, "-m", "mkdocs", "build", "--strict", "-q", "-d", str(tmp_path / "site")],
                       cwd=ROOT, capture_output=True, text=True, env=env, timeout=120)
    assert r.returncode == 0, r.stdout + r.stderr
    assert (tmp_path / "site" / "configuration" / "index.html").is_file()
    assert (tmp_path / "site" / "rules" / "lock-without-timeout" / "index.html").is_file()


def test_nav_lists_every_page():
    nav = (ROOT / "mkdocs.yml").read_text()
    pages = [p.relative_to(ROOT / "docs").as_posix() for p in (ROOT / "docs").rglob("*.md")]
    missing = [p for p in pages if f" {p}\n" not in nav]
    assert not missing, f"add to the nav of mkdocs.yml: {missing}"


def test_configuration_page_is_current():
    assert not config_docs.stale(), "run `python -m alembic_guard.config_docs` and commit docs/configuration.md"


def test_every_key_is_documented():
    keys = {f.name.replace("_", "-") for f in dataclasses.fields(CheckConfig) if f.name != "source"}
    assert keys == set(config_docs.CHECK_KEYS), "describe the new [tool.alembic-guard] key in config_docs.CHECK_KEYS"
    meanings = config_docs.setting_meanings()
    assert all(meanings.get(name) for name in SETTING_NAMES), set(SETTING_NAMES) - set(meanings)
    text = config_docs.page()
    assert all(f"`{name}`" in text for name in SETTING_NAMES) and all(f"`{k}`" in text for k in keys)


def test_generator_check_mode(tmp_path):
    page = tmp_path / "configuration.md"
    assert config_docs.main(["--check", "--path", str(page)]) == 1
    assert config_docs.main(["--path", str(page)]) == 0
    assert config_docs.main(["--check", "--path", str(page)]) == 0
