"""Run PostgreSQL binaries as an unprivileged user when we are root.

PostgreSQL refuses to start as root ("root" execution of the PostgreSQL server is not permitted).
CI runs as root, so we wrap the command:

1. ``unshare --user --map-user=1000 --map-group=1000``: a user namespace, no account needed; files we
   (root) own appear owned by the mapped uid inside, so the data directory passes postgres' ownership
   check.
2. ``setpriv`` to ``nobody``: needs the binaries to be readable by that user; we chown only the
   directories we created ourselves.

We never ``useradd`` and never chmod the user's directories.
"""

from __future__ import annotations

import functools
import os
import shutil
import subprocess
from pathlib import Path


@functools.cache
def _unshare_works() -> bool:
    unshare = shutil.which("unshare")
    if not unshare:
        return False
    try:
        r = subprocess.run([unshare, "--user", "--map-user=1000", "--map-group=1000", "true"],
                           capture_output=True, timeout=10)
    except (OSError, subprocess.SubprocessError):
        return False
    return r.returncode == 0


def running_as_root() -> bool:
    return hasattr(os, "geteuid") and os.geteuid() == 0


def command_prefix() -> list[str]:
    """The argv prefix that drops root, or ``[]`` when we are not root."""
    if not running_as_root():
        return []
    if _unshare_works():
        return [shutil.which("unshare") or "unshare", "--user", "--map-user=1000", "--map-group=1000"]
    setpriv = shutil.which("setpriv")
    if setpriv:
        return [setpriv, "--reuid=65534", "--regid=65534", "--clear-groups"]
    return []


def needs_chown() -> bool:
    """True when the server runs under a different real uid (setpriv) and our dirs must be handed over."""
    prefix = command_prefix()
    return bool(prefix) and prefix[0].endswith("setpriv")


def hand_over(path: Path) -> None:
    """Give a directory we created to the unprivileged uid (setpriv route only)."""
    if needs_chown():
        for root, _dirs, files in os.walk(path):
            os.chown(root, 65534, 65534)
            for name in files:
                os.chown(os.path.join(root, name), 65534, 65534)
