"""The incremental cache's files: which template databases exist for which key, and the traces.

One directory per persistent shadow cluster (``<cache_root>/incremental/<cluster id>/``):

- ``heads.json``: ``{"format": 1, "heads": [entry, …]}``, oldest first; an entry is
  ``{"key", "db", "revision", "count", "chain": [key_1 … key_count], "project", "notes",
  "transaction_mode"}``: database ``db`` holds the schema state after the first ``count`` revisions;
- ``traces/<key_i>.pickle``: the RevisionTrace of revision ``i`` as traced (before judgement, so the
  rules, suppressions and baseline of the day judge it again), its judging facts pickled apart
  (``RevisionTrace.defer_facts``) so that loading a long history skips them unless it is judged again.

Every change happens under ``lock`` (filelock: concurrent runs wait, 60 s at most) and every file is
written to a temp name and renamed (``os.replace`` is atomic), so a killed run leaves the old file or
the new one. The entry is written last: traces or a database without an entry are leftovers, removed
by the next write (``prune``).
"""

from __future__ import annotations

import contextlib
import json
import os
import pickle
import tempfile
from collections.abc import Iterator
from pathlib import Path

import filelock

from ..model import RevisionTrace

FORMAT = 1
# Templates kept per project (the config file): the newest heads checked, so that alternating between
# main and one or two branches stays warm. Each is a whole database (≥ 7 MB even when nearly empty),
# hence the small number; and at most MAX_TOTAL per cluster, whatever the number of projects.
MAX_PER_PROJECT = 3
MAX_TOTAL = 12
LOCK_TIMEOUT_S = 60.0


class Store:
    """The files of the incremental cache of one shadow cluster, under ``directory``."""

    def __init__(self, directory: Path):
        self.dir = directory
        self.traces_dir = directory / "traces"
        self.traces_dir.mkdir(parents=True, exist_ok=True)
        self._lock = filelock.FileLock(str(directory / "lock"), timeout=LOCK_TIMEOUT_S)

    @contextlib.contextmanager
    def locked(self) -> Iterator[None]:
        """Hold the store's lock (raises filelock.Timeout after 60 s)."""
        with self._lock:
            yield

    def heads(self) -> list[dict]:
        """The entries of heads.json, oldest first ([] when absent or unreadable)."""
        try:
            doc = json.loads((self.dir / "heads.json").read_text())
        except (OSError, ValueError):
            return []
        if not isinstance(doc, dict) or doc.get("format") != FORMAT or not isinstance(doc.get("heads"), list):
            return []
        return [h for h in doc["heads"] if isinstance(h, dict) and {"key", "db", "count", "chain"} <= set(h)]

    def _write_heads(self, heads: list[dict]) -> None:
        _atomic_write(self.dir / "heads.json", json.dumps({"format": FORMAT, "heads": heads}).encode())

    def load_traces(self, keys: list[str]) -> list[RevisionTrace] | None:
        """The stored trace for each key, in order; None if any is missing or unreadable (the files
        are ours, in the user's cache, and keyed by the tool's own code: pickle is fit)."""
        out = []
        for key in keys:
            try:
                trace = pickle.loads((self.traces_dir / f"{key}.pickle").read_bytes())
            except Exception:  # noqa: BLE001 - missing, truncated, from another model: a miss
                return None
            if not isinstance(trace, RevisionTrace):
                return None
            out.append(trace)
        return out

    def save_traces(self, pairs: list[tuple[str, RevisionTrace]]) -> None:
        """Write each trace under its key (call with the lock held). Raises OSError."""
        for key, trace in pairs:
            path = self.traces_dir / f"{key}.pickle"
            if not path.exists():
                _atomic_write(path, pickle.dumps(trace.defer_facts(), protocol=pickle.HIGHEST_PROTOCOL))

    def add_head(self, entry: dict) -> list[str]:
        """Record ``entry`` as the newest head (replacing one of the same key), evict beyond the
        bounds, and return the database names that are no longer referenced (for the caller to drop).
        Call with the lock held. Raises OSError."""
        heads = [h for h in self.heads() if h["key"] != entry["key"]] + [entry]
        mine = [h for h in heads if h.get("project") == entry.get("project")]
        evicted = mine[:-MAX_PER_PROJECT] if len(mine) > MAX_PER_PROJECT else []
        heads = [h for h in heads if h not in evicted]
        if len(heads) > MAX_TOTAL:
            evicted += heads[:-MAX_TOTAL]
            heads = heads[-MAX_TOTAL:]
        self._write_heads(heads)
        kept = {h["db"] for h in heads}
        return [h["db"] for h in evicted if h["db"] not in kept]

    def forget(self, keys: set[str]) -> None:
        """Remove the entries of these keys (their database is gone). Call with the lock held."""
        heads = self.heads()
        if any(h["key"] in keys for h in heads):
            self._write_heads([h for h in heads if h["key"] not in keys])

    def prune(self) -> None:
        """Remove trace files no entry's chain names, and temp files of killed runs (lock held)."""
        wanted = {k for h in self.heads() for k in h["chain"]}
        for path in self.traces_dir.iterdir():
            if path.name.endswith(".tmp") or (path.suffix == ".pickle" and path.stem not in wanted):
                with contextlib.suppress(OSError):
                    path.unlink()


def _atomic_write(path: Path, data: bytes) -> None:
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=path.name + ".", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
