"""Which revision files changed since a git ref (``check --changed-since REF``).

Changed means: different in the working tree (committed, staged, unstaged or untracked) from the
merge base of REF and HEAD, so that on a branch that merged REF in, the revisions that came with the
merge do not count, nor do commits REF got since. Renames are detected (``git diff -M``): a revision
file only renamed or moved, its content unchanged, is not a changed revision; renamed and edited, it
is. Only git is needed (``git`` on PATH); no revision script is imported here.
"""

from __future__ import annotations

import os
import subprocess
from dataclasses import dataclass, field
from pathlib import Path

from .errors import GuardError


@dataclass
class ChangedFiles:
    """Revision files changed since ``ref`` (absolute, resolved paths)."""

    ref: str
    base: str  # the merge-base commit
    toplevel: Path
    paths: set[Path] = field(default_factory=set)
    renamed: dict[Path, Path] = field(default_factory=dict)  # new path → old path, content unchanged

    def revisions(self, revision_paths: dict[str, str], root: Path | None = None) -> set[str]:
        """The revision ids among ``revision_paths`` (path → id, ``Project.revision_paths()``) whose
        file changed. Relative paths are taken relative to ``root`` (the config file's directory)."""
        out = set()
        for path, rev in revision_paths.items():
            p = Path(path)
            if not p.is_absolute():
                p = (root or Path.cwd()) / p
            if _resolve(p) in self.paths:
                out.add(rev)
        return out


def _resolve(p: Path) -> Path:
    try:
        return p.resolve()
    except OSError:
        return p.absolute()


def _git(args: list[str], cwd: Path) -> subprocess.CompletedProcess:
    env = dict(os.environ, LC_ALL="C", GIT_TERMINAL_PROMPT="0")
    env.pop("GIT_DIR", None)
    env.pop("GIT_WORK_TREE", None)
    try:
        return subprocess.run(["git", *args], cwd=cwd, capture_output=True, text=True, env=env,
                              timeout=120)
    except FileNotFoundError as exc:
        raise GuardError("--changed-since needs git, and no `git` executable is on PATH.",
                         hint="Install git, or check without --changed-since.") from exc
    except subprocess.TimeoutExpired as exc:
        raise GuardError(f"git {' '.join(args[:2])} did not answer within 120 s.") from exc


def _detail(proc: subprocess.CompletedProcess) -> str:
    text = " ".join((proc.stderr or proc.stdout or "").split())
    return f" (git: {text})" if text else ""


def changed_files(ref: str, version_dirs: list[Path], root: Path) -> ChangedFiles:
    """The files under ``version_dirs`` changed since ``ref`` (see the module docstring).

    ``root`` (the config file's directory) is where git looks for the repository and what relative
    version locations are relative to. Raises GuardError when git is missing, ``root`` is not in a
    git work tree, a version location is outside it, or ``ref`` names no commit.
    """
    root = _resolve(root)
    top = _git(["rev-parse", "--show-toplevel"], root)
    if top.returncode != 0 or not top.stdout.strip():
        raise GuardError(f"--changed-since {ref}: {root} is not inside a git work tree{_detail(top)}.",
                         hint="Run the check in the project's git checkout, or without --changed-since.")
    toplevel = _resolve(Path(top.stdout.strip()))
    if not ref or ref.startswith("-"):
        raise GuardError(f"--changed-since {ref!r}: not a git ref.")
    commit = _git(["rev-parse", "--verify", "--quiet", f"{ref}^{{commit}}"], toplevel)
    if commit.returncode != 0 or not commit.stdout.strip():
        raise GuardError(f"--changed-since {ref}: git knows no commit by that name in {toplevel}.",
                         hint="Name a branch, tag or commit (e.g. origin/main; fetch it first in a shallow "
                              "CI clone: git fetch origin main).")
    base = _git(["merge-base", commit.stdout.strip(), "HEAD"], toplevel)
    if base.returncode != 0 or not base.stdout.strip():
        raise GuardError(f"--changed-since {ref}: {ref} and HEAD have no common ancestor{_detail(base)}.",
                         hint="In a shallow clone, fetch more history (git fetch --unshallow).")
    base_commit = base.stdout.strip()
    specs = []
    for d in version_dirs:
        d = _resolve(d if d.is_absolute() else root / d)
        try:
            specs.append(str(d.relative_to(toplevel)) or ".")
        except ValueError:
            raise GuardError(f"--changed-since {ref}: the version location {d} is not in the git work tree "
                             f"{toplevel}.") from None
    result = ChangedFiles(ref=ref, base=base_commit, toplevel=toplevel)
    diff = _git(["diff", "--name-status", "-z", "-M", "--no-color", "--no-ext-diff", base_commit, "--", *specs],
                toplevel)
    if diff.returncode != 0:
        raise GuardError(f"--changed-since {ref}: git diff failed{_detail(diff)}.")
    fields = diff.stdout.split("\0")
    i = 0
    while i < len(fields) and fields[i]:
        status = fields[i]
        kind = status[0]
        if kind in "RC":  # rename/copy: score, old path, new path
            old, new = fields[i + 1], fields[i + 2]
            i += 3
            new_path = _resolve(toplevel / new)
            if kind == "R" and status[1:] == "100":
                result.renamed[new_path] = _resolve(toplevel / old)
            else:
                result.paths.add(new_path)
            continue
        path = fields[i + 1]
        i += 2
        if kind != "D":  # A, M, T (type change), U (unmerged), X: the file as it is now
            result.paths.add(_resolve(toplevel / path))
    others = _git(["ls-files", "--others", "--exclude-standard", "--full-name", "-z", "--", *specs], toplevel)
    if others.returncode != 0:
        raise GuardError(f"--changed-since {ref}: git ls-files failed{_detail(others)}.")
    result.paths.update(_resolve(toplevel / p) for p in others.stdout.split("\0") if p)
    return result


def keep_changed(report, changed: ChangedFiles, revision_paths: dict[str, str], root: Path) -> None:
    """Drop from ``report.revisions`` the revisions whose file did not change (``--changed-since``),
    with a note saying how many were traced but not reported."""
    keep = changed.revisions(revision_paths, root)
    before = len(report.revisions)
    report.revisions = [r for r in report.revisions if r.revision in keep]
    dropped = before - len(report.revisions)
    report.changed_since = {"ref": changed.ref, "merge_base": changed.base, "not_reported": dropped}
    since = f"--changed-since {changed.ref}, merge base {changed.base[:12]}"
    if not report.revisions:
        report.notes.append(f"no revision changed: {dropped} unchanged revision(s) traced, not reported ({since})")
    elif dropped:
        report.notes.append(f"{dropped} unchanged revision(s) traced, not reported ({since})")
