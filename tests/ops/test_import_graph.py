"""The runtime helpers of ``alembic_guard/ops`` import each other without a circle, and never from
inside a function (the usual way to dodge one); ``if TYPE_CHECKING:`` imports count too."""

from __future__ import annotations

import ast
from pathlib import Path

OPS = Path(__file__).resolve().parents[2] / "alembic_guard" / "ops"


def imports(path: Path) -> list[tuple[str, bool]]:
    """(ops module imported, at module level?) for every ``from .x import`` / ``from . import x``."""
    tree = ast.parse(path.read_text())
    top = {id(n) for n in tree.body} | {id(n) for s in tree.body if isinstance(s, ast.If) for n in s.body}
    out = []
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.level == 1:
            names = [node.module.split(".")[0]] if node.module else [a.name for a in node.names]
            out += [(name, id(node) in top) for name in names]
    return out


def graph() -> dict[str, set[str]]:
    modules = {p.stem: p for p in OPS.glob("*.py")}
    return {name: {m for m, _ in imports(p) if m in modules} for name, p in modules.items()}


def test_no_function_level_imports():
    late = [(p.name, m) for p in OPS.glob("*.py") for m, at_top in imports(p) if not at_top]
    assert late == []


def test_no_import_cycle():
    g = graph()
    state: dict[str, int] = {}  # 1 visiting, 2 done

    def visit(name: str, path: list[str]) -> None:
        state[name] = 1
        for dep in sorted(g[name]):
            assert state.get(dep) != 1, " -> ".join([*path, dep])
            if dep not in state:
                visit(dep, [*path, dep])
        state[name] = 2

    for name in sorted(g):
        if name not in state:
            visit(name, [name])
