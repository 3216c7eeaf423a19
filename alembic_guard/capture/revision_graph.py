"""Explain a broken revision graph by the files that break it.

Alembic's revision map only warns (a ``UserWarning`` on stderr) when two files define the same
revision id, and keeps whichever it read last: ``alembic upgrade`` would then silently skip one of
them. A ``down_revision`` naming no revision is a warning followed by a bare ``KeyError``. Neither
names a file. Here both become one GuardError naming the file and the line of the assignment, from
the scripts the loader yielded (every file, duplicates included).
"""

from __future__ import annotations

import ast
from pathlib import Path

from alembic.script import Script
from alembic.util import to_tuple

from ..errors import GuardError


def graph_error(scripts: list[Script]) -> GuardError | None:
    """A GuardError for the first duplicate revision id or unknown parent among ``scripts`` (every
    revision file the loader imported, in load order), or None when the graph's names are whole."""
    by_id: dict[str, list[Script]] = {}
    for sc in scripts:
        by_id.setdefault(sc.revision, []).append(sc)
    for rev, same in by_id.items():
        if len(same) > 1:
            paths = sorted(str(sc.path) for sc in same)
            return GuardError(
                f"revision {rev} is defined by {len(paths)} files: " + ", ".join(paths)
                + f"; Alembic would keep one of them and skip the other{'s' if len(paths) > 2 else ''} "
                  "without an error.",
                path=paths[-1], line=_assignment_line(paths[-1], "revision"),
                hint="Give each revision file its own revision id (and point the next revision's "
                     "down_revision at it), or delete the stray copy.")
    labels = {label for sc in scripts for label in (sc.branch_labels or ())}
    for sc in scripts:
        for name, known in (("down_revision", by_id.keys()), ("depends_on", by_id.keys() | labels)):
            wanted = to_tuple(sc.down_revision if name == "down_revision" else sc.dependencies, default=())
            missing = [parent for parent in wanted if parent not in known]
            if missing:
                return GuardError(
                    f"revision {sc.revision} names {name} {', '.join(repr(m) for m in missing)}, which no "
                    f"revision file defines ({_known_summary(scripts)}).",
                    path=str(sc.path), line=_assignment_line(str(sc.path), name),
                    hint="Point it at an existing revision id, or restore the missing revision file.")
    return None


def _known_summary(scripts: list[Script]) -> str:
    parents = {parent for sc in scripts for parent in to_tuple(sc.down_revision, default=())}
    heads = [sc.revision for sc in scripts if sc.revision not in parents]
    count = len(scripts)
    shown = ", ".join(heads[:5]) + (" …" if len(heads) > 5 else "")
    return f"{count} revision file(s); head(s): {shown}" if heads else f"{count} revision file(s)"


def _assignment_line(path: str, name: str) -> int | None:
    """The line of the module-level assignment to ``name`` in ``path`` (plain or annotated), or None."""
    try:
        tree = ast.parse(Path(path).read_bytes(), filename=path)
    except (OSError, SyntaxError, ValueError):
        return None
    for node in tree.body:
        targets = node.targets if isinstance(node, ast.Assign) else \
            [node.target] if isinstance(node, ast.AnnAssign) else []
        if any(isinstance(t, ast.Name) and t.id == name for t in targets):
            return node.lineno
    return None
