"""Rewrite the Rules and Recipes sections of mkdocs.yml's nav from the generated pages.

    python tools/docs_nav.py    # after python -m alembic_guard.rules.docs / alembic_guard.recipes.docs
"""

from __future__ import annotations

from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SECTIONS = {"Rules": "rules", "Recipes": "recipes"}
#: pages that are not one rule or recipe each: listed after the overview, with a title
SPECIAL = {"rules/compared": "Compared with squawk, strong_migrations, MigrationPilot"}


def section(title: str, folder: str) -> list[str]:
    pages = sorted(p.stem for p in (ROOT / "docs" / folder).glob("*.md") if p.stem != "README")
    special = [f"      - {SPECIAL[f'{folder}/{p}']}: {folder}/{p}.md" for p in pages if f"{folder}/{p}" in SPECIAL]
    return [f"  - {title}:", f"      - Overview: {folder}/README.md", *special,
            *(f"      - {p}: {folder}/{p}.md" for p in pages if f"{folder}/{p}" not in SPECIAL)]


def rewrite(text: str) -> str:
    lines = text.splitlines()
    for title, folder in SECTIONS.items():
        heads = (f"- {title}:", f"- {title}: {folder}/README.md")
        head = next((i for i, ln in enumerate(lines) if ln.strip() in heads), None)
        if head is None:
            continue
        end = head + 1
        while end < len(lines) and lines[end].startswith("      "):
            end += 1
        lines[head:end] = section(title, folder)
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    path = ROOT / "mkdocs.yml"
    path.write_text(rewrite(path.read_text()))
