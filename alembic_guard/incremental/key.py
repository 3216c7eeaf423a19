"""Content keys of schema states: a hash chain over the revision files, base first.

``context_key`` hashes everything besides the revision files that changes what a trace sees; then
``chain`` gives, for each revision of a linear history, ``key_i = sha256(key_(i-1) | id | sha256(file))``,
so ``key_i`` names the schema state (and the traces) after revision ``i`` and changes as soon as any
earlier file does. Content only, never mtimes: a ``touch`` or a fresh checkout keeps every key.
"""

from __future__ import annotations

import hashlib
import json
import os
import sys
from pathlib import Path

from .. import __version__

# The parts of alembic_guard whose code decides what a trace records (capture, trace, the SQL
# splitter, the data model, the extension shims live in capture/): a change there, even without a
# version bump (a development checkout), is a new context.
_TOOL_PARTS = ("capture", "trace", "sql", "model.py", "alembic_api.py", "incremental")


def _sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def files_digest(paths: list[Path], root: Path | None = None) -> str:
    """sha256 over the files' names (relative to ``root``: a checkout elsewhere keeps its keys) and bytes."""
    h = hashlib.sha256()
    for p in sorted(paths):
        name = p.relative_to(root) if root is not None and p.is_relative_to(root) else p
        h.update(str(name).encode() + b"\0")
        try:
            h.update(p.read_bytes())
        except OSError:
            h.update(b"<unreadable>")
        h.update(b"\0")
    return h.hexdigest()


def tool_digest() -> str:
    """sha256 over the tool's own trace-relevant source files (see ``_TOOL_PARTS``)."""
    pkg = Path(__file__).resolve().parents[1]
    files: list[Path] = []
    for part in _TOOL_PARTS:
        p = pkg / part
        files += sorted(p.rglob("*.py")) if p.is_dir() else [p]
    return files_digest([f for f in files if "__pycache__" not in f.parts], pkg)


def _library_versions() -> dict[str, str]:
    """Alembic and SQLAlchemy render the ops to SQL, the driver renders parameters: their versions count."""
    from importlib import metadata

    out = {"python": sys.version.split()[0]}
    for dist in ("alembic", "sqlalchemy", "psycopg", "psycopg2-binary", "psycopg2", "pglast"):
        try:
            out[dist] = metadata.version(dist)
        except metadata.PackageNotFoundError:
            continue
    return out


def _alembic_table(pyproject: Path) -> str:
    """``[tool.alembic]`` of pyproject.toml (Alembic reads its options there); not the rest of the
    file: ``[tool.alembic-guard]`` (rules, suppressions) only changes the judgement, recomputed anyway."""
    try:
        import tomllib
    except ImportError:  # Python 3.10
        import tomli as tomllib  # type: ignore[no-redef]
    try:
        doc = tomllib.loads(pyproject.read_text())
    except FileNotFoundError:  # the same as a file without the table: adding one for the rules keeps every trace
        doc = {}
    except (OSError, ValueError):
        return ""
    return json.dumps(doc.get("tool", {}).get("alembic"), sort_keys=True, default=str)


def resolver():
    """A ``Path(f).resolve()`` for many files: a thousand modules (or the files of a script directory)
    live in a few dozen directories, so each directory's real path is looked up once; a file that is
    itself a symbolic link is resolved on its own."""
    real_dirs: dict[str, str] = {}

    def resolve(f: str | os.PathLike[str]) -> Path:
        directory, name = os.path.split(os.path.abspath(f))
        if directory not in real_dirs:
            real_dirs[directory] = os.path.realpath(directory)
        return Path(os.path.realpath(f) if os.path.islink(f) else os.path.join(real_dirs[directory], name))

    return resolve


def project_modules(root: Path, revision_files: set[Path]) -> list[Path]:
    """Python files under ``root`` (the config file's directory) that are imported right now, except
    the revision files themselves: helpers the revision scripts import (call after
    ``Project.load_revisions``). A change in one changes the context key."""
    root = root.resolve()
    out = set()
    resolve = resolver()
    for mod in list(sys.modules.values()):
        f = getattr(mod, "__file__", None)
        if not f:
            continue
        p = resolve(f)
        if p.suffix == ".py" and p not in revision_files and p.is_relative_to(root) and "site-packages" not in p.parts:
            out.add(p)
    return sorted(out)


def context_key(*, config_file: Path, section: str, x_args: list[str], script_dir: Path,
                revision_files: set[Path], server_version: str, server_description: str,
                production_roles: list[str] | None = None) -> str:
    """sha256 (hex) of what shapes every trace besides the revision files: the tool (version and its
    trace code), Alembic/SQLAlchemy/driver versions, the server (full version string and its
    binaries), alembic.ini's bytes, the section and ``-x`` args, every file of the script directory
    that is not a revision (env.py, helpers, script.py.mako), and project modules the revisions
    imported (``project_modules``), and the roles the shadow starts with (``production-roles``: a
    GRANT to one runs or fails by it). Table statistics are not in it: they size findings at judge time."""
    resolve = resolver()
    script_files = [resolve(p) for p in script_dir.rglob("*") if "__pycache__" not in p.parts
                    and p.suffix in (".py", ".mako", ".ini", ".toml", ".cfg") and p.is_file()]
    extra = set(script_files) | set(project_modules(config_file.parent, revision_files))
    extra -= revision_files
    doc = {
        "tool": __version__, "tool_code": tool_digest(), "libraries": _library_versions(),
        "server": server_version, "binaries": server_description,
        "config": files_digest([config_file], config_file.parent),
        "pyproject": _alembic_table(config_file.parent / "pyproject.toml"),
        "section": section, "x": list(x_args), "production_roles": sorted(production_roles or []),
        "script_dir": files_digest(sorted(extra), config_file.parent.resolve()),
    }
    return _sha(json.dumps(doc, sort_keys=True).encode())


def chain(context: str, revisions: list[tuple[str, Path]]) -> list[str]:
    """``key_i`` for each ``(revision id, file)`` in history order (base first); 64 hex chars each.
    Raises OSError when a file cannot be read."""
    keys = []
    previous = context
    for rev_id, path in revisions:
        previous = _sha(f"{previous}|{rev_id}|{_sha(Path(path).read_bytes())}".encode())
        keys.append(previous)
    return keys
