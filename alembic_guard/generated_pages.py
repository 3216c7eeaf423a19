"""Write and check a directory of generated Markdown pages (docs/rules, docs/recipes): the part the
page generators share. ``render()`` gives file name → content; a page carrying ``marker`` that
``render()`` no longer gives is deleted on write and reported as stale on check."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from pathlib import Path


def stale(pages: dict[str, str], directory: Path) -> list[str]:
    """Pages missing or different from ``pages``, and orphan pages in ``directory``."""
    out = [name for name, text in pages.items()
           if not (directory / name).exists() or (directory / name).read_text() != text]
    if directory.exists():
        out += [p.name for p in directory.glob("*.md") if p.name not in pages]
    return sorted(out)


def write(pages: dict[str, str], directory: Path, marker: str) -> list[str]:
    directory.mkdir(parents=True, exist_ok=True)
    for p in directory.glob("*.md"):
        if p.name not in pages and marker in p.read_text():
            p.unlink()
    for name, text in pages.items():
        (directory / name).write_text(text)
    return sorted(pages)


def main(argv: list[str] | None, *, prog: str, description: str, render: Callable[[], dict[str, str]],
         default_dir: Path, marker: str) -> int:
    """``prog [--dir D] [--check]``: write the pages, or exit 1 listing the stale ones."""
    parser = argparse.ArgumentParser(prog=prog, description=description)
    parser.add_argument("--dir", type=Path, default=default_dir, help=f"output directory (default: {default_dir})")
    parser.add_argument("--check", action="store_true", help="exit 1 when a page is missing or stale")
    args = parser.parse_args(argv)
    if args.check:
        bad = stale(render(), args.dir)
        for name in bad:
            print(f"stale: {args.dir / name}", file=sys.stderr)
        return 1 if bad else 0
    print(f"wrote {len(write(render(), args.dir, marker))} pages to {args.dir}")
    return 0
