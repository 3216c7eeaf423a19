"""A copy of a PostgreSQL install that ``nobody`` can reach, for root without a mount namespace.

As root the server runs as uid 65534 (:mod:`.privileges`). Without ``CAP_SYS_ADMIN`` (a default Docker
container) nothing can be bound into its reach, so binaries under a 0700 directory (a wheel in a pyenv
under ``/root``) are mirrored once into ``<cache root>/installs/<key>/`` (by default then the site cache
dir ``/var/cache/alembic-guard``; key: sha256 of the bin dir, its ``postgres --version`` and the dirs
mirrored):

- the install root and the library dirs outside it (a wheel's ``<package>.libs``) at the same relative
  places, so ``$ORIGIN``-relative library paths and PostgreSQL's own relative share/lib lookups hold;
- files hard-linked where the file system allows (no copy, no space: the same root-owned inode, which
  a world-readable mode already opens to all) and copied otherwise, or when the source is not
  world-readable (the copy is made readable: these are public binaries, no secrets);
- built in a work dir under a filelock and renamed into place after a marker (source, version) was
  written last; a mirror without a matching marker is rebuilt.

The mirror root must be owned by root and writable by no one else (a binary swapped in by another
user would run on our data); otherwise it is an error, as is a mirror ``nobody`` still cannot reach.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import shutil
import stat
import tempfile
from pathlib import Path

import filelock

from ..errors import GuardError
from .cache import cache_root, server_version

MARKER = "alembic-guard-mirror.json"
FORMAT = 1


def mirror_root() -> Path:
    """``<cache root>/installs``: next to the clusters, which must be reachable by nobody too (without a
    mount namespace the default cache root is the site cache dir, see :func:`.cache.cache_root`)."""
    return cache_root() / "installs"


def mirrored_bindir(bindir: Path, needed: list[Path], reachable) -> Path:
    """The bin dir of a complete mirror of ``needed`` (the install root first, then library dirs), built
    if absent or stale. ``reachable(path)`` tells whether the server's uid can reach a path. Raises
    GuardError when the mirror root is unsafe, cannot be written, or stays out of reach."""
    real = bindir.resolve()
    identity = {"format": FORMAT, "source": str(real), "server_version": server_version(real),
                "dirs": [str(d) for d in needed]}
    key = hashlib.sha256(json.dumps(identity, sort_keys=True).encode()).hexdigest()[:16]
    root = mirror_root()
    common = Path(os.path.commonpath(needed))
    home = root / key
    result = home / real.relative_to(common)
    try:
        _make_safe_dir(root)
        if _marker(home) != identity:
            with filelock.FileLock(str(root / f"{key}.lock"), thread_local=False).acquire(timeout=300):
                if _marker(home) != identity:
                    _build(home, needed, common, identity)
    except (OSError, shutil.Error, filelock.Timeout) as exc:
        raise GuardError(f"could not mirror the PostgreSQL install {common} into {root} for uid 65534: {exc}",
                         hint="Install the server binaries outside /root (e.g. the distribution's "
                              "postgresql package), or run alembic-guard as a non-root user.") from exc
    if not reachable(result):
        raise GuardError(f"the mirror {result} of {bindir} is not reachable by uid 65534.",
                         hint=f"Make the parents of {root} searchable by all, or remove it.")
    return result


def _marker(home: Path) -> dict | None:
    with contextlib.suppress(OSError, ValueError):
        return json.loads((home / MARKER).read_text())
    return None


def _make_safe_dir(root: Path) -> None:
    """mkdir -p ``root`` 0755; it and each parent must be root's and writable by no one else (a sticky
    1777 ``/tmp``-like parent is fine: its entries cannot be replaced by others)."""
    root.mkdir(parents=True, exist_ok=True)
    os.chmod(root, 0o755)
    for d in [root, *root.parents]:
        st = os.lstat(d)
        if stat.S_ISLNK(st.st_mode):
            st = os.stat(d)
        if st.st_uid != 0 or (st.st_mode & 0o022 and not st.st_mode & stat.S_ISVTX):
            raise GuardError(f"{d} is not a safe place for a copy of the PostgreSQL install: it must be "
                             f"owned by root and writable by no one else.",
                             hint=f"Fix the owner or mode of {d}, or run alembic-guard as a non-root user.")


def _build(home: Path, needed: list[Path], common: Path, identity: dict) -> None:
    for stale in home.parent.glob(f"{home.name}.tmp-*"):  # work dirs of killed builds
        shutil.rmtree(stale, ignore_errors=True)
    work = Path(tempfile.mkdtemp(prefix=f"{home.name}.tmp-", dir=home.parent))
    try:
        os.chmod(work, 0o755)
        for d in needed:
            target = work / d.relative_to(common)
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copytree(d, target, symlinks=True, copy_function=_link_or_copy, dirs_exist_ok=True)
        for dirpath, _dirs, _files in os.walk(work):
            os.chmod(dirpath, os.stat(dirpath).st_mode | 0o555)  # searchable by all, like the copies
        with open(work / MARKER, "w") as fh:  # last: a mirror with a marker is complete
            json.dump(identity, fh)
            fh.flush()
            os.fsync(fh.fileno())
        if home.exists():
            shutil.rmtree(home)
        os.rename(work, home)
    finally:
        shutil.rmtree(work, ignore_errors=True)


def _link_or_copy(src: str, dst: str) -> str:
    """A hard link when the source is world-readable and on the same file system, else a copy made
    world-readable (executables keep their x bits)."""
    mode = os.stat(src).st_mode
    if mode & stat.S_IROTH:
        try:
            os.link(src, dst)
            return dst
        except OSError:
            pass
    shutil.copy2(src, dst)
    os.chmod(dst, (mode | 0o444 | (0o111 if mode & 0o100 else 0)) & 0o755)
    return dst
