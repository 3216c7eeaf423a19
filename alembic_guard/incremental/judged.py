"""Per-revision judgement cache: the findings of a reused trace, so a warm check judges only what is new.

Judging is a pure function of one revision's trace and of the day's judging inputs: no rule reads
another revision (``rules.base.Context`` holds one revision; missing-downgrade reads the revision's own
file, whose bytes are in its trace key). So the findings are kept under

- the revision's **trace key** (key.py: its file, every earlier file, env.py, the server, the tool's
  trace code) and its **path** (findings name it; a checkout elsewhere re-judges), and
- a **judgement key** (``judgement_key``): everything else judging reads: the tool's version and the
  source of the whole package (rules, recipes, judge), the registered rules (a project's own rule
  module by its bytes), the server's version number, the disabled rules
  and severity overrides (config and ``--disable``), the table sizes (``--stats-file``/``--stats-url``),
  and the bytes of the pyproject.toml that holds ``[tool.alembic-guard]``.

Not cached, always judged again: a revision with a statement or finding placed in another file than
its own (a helper module: its suppression comments are read, its bytes are not in the trace key), one
whose downgrade ran in this run (its DowngradeResult is a judging input), one whose trace is not in
the trace store (failed, or the run kept nothing). The baseline and ``--changed-since`` are applied
after judgement, on every run, to fresh copies: they never enter the key. A miss of any kind
(unreadable file, another format) is a re-judgement, never an error.

File: ``judged/<judgement key>.pickle`` in the store's directory, a dict ``"<trace key>|<path>"`` →
the pickled findings (bytes; unpickled per hit, so each run gets objects of its own). Bounded: the
newest ``MAX_KEYS`` judgement keys are kept (a config edited back and forth stays warm), entries whose
trace key no head names are dropped when written.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import pickle
from pathlib import Path

from .. import __version__
from ..model import Finding, RevisionTrace
from .store import Store, _atomic_write

FORMAT = 1
MAX_KEYS = 4


def package_digest() -> str:
    """sha256 (hex) over every .py file of alembic_guard (names and bytes): any change in a rule, a
    recipe or the judge, even without a version bump, is another judgement."""
    from .key import files_digest

    pkg = Path(__file__).resolve().parents[1]
    return files_digest([p for p in pkg.rglob("*.py") if "__pycache__" not in p.parts], pkg)


def rules_digest() -> list[list[str]]:
    """The registered rules (``rules.register``), each as id, class, and the sha256 of its module's
    file when that file lies outside the package (a project's or a plugin's own rule: its code is
    not in ``package_digest``). A rule class with no readable source gets its object id: unique to
    the process, so its judgement is never reused by another run."""
    import inspect

    from ..rules.base import _REGISTRY, all_rules

    list(all_rules())  # imports the catalog, as judging does
    pkg = Path(__file__).resolve().parents[1]
    out = []
    for cls in _REGISTRY:
        try:
            path = Path(inspect.getsourcefile(cls) or "").resolve()
            source = "" if path.is_relative_to(pkg) else hashlib.sha256(path.read_bytes()).hexdigest()
        except (TypeError, OSError):
            source = f"<no source: {id(cls)}>"
        out.append([cls.id, f"{cls.__module__}.{cls.__qualname__}", source])
    return out


def judgement_key(*, server_version_num: int, disabled, severity: dict[str, str] | None, sizes: dict | None,
                  config_source: str | None) -> str:
    """sha256 (hex) of every judging input besides the trace (see the module docstring). ``sizes``:
    table name → stats.TableSize (or None); ``config_source``: the pyproject.toml read, or None."""
    table_sizes = None
    if sizes is not None:
        table_sizes = {name: [getattr(s, "rows", None), getattr(s, "bytes", None)] for name, s in sizes.items()}
    source = ""
    if config_source:
        try:
            source = hashlib.sha256(Path(config_source).read_bytes()).hexdigest()
        except OSError:
            source = "<unreadable>"
    doc = {"format": FORMAT, "tool": __version__, "code": package_digest(), "rules": rules_digest(),
           "server": server_version_num,
           "disabled": sorted(set(disabled)), "severity": sorted((severity or {}).items()),
           "sizes": table_sizes, "config": [config_source, source]}
    return hashlib.sha256(json.dumps(doc, sort_keys=True, default=str).encode()).hexdigest()


def _entry(trace_key: str, path: str) -> str:
    return f"{trace_key}|{path}"


class Judged:
    """The judgement cache of one store and one judgement key."""

    def __init__(self, store: Store, key: str):
        self.store = store
        self.key = key
        self.dir = store.dir / "judged"
        self.entries: dict[str, bytes] = self._read()

    def _read(self) -> dict[str, bytes]:
        try:
            doc = pickle.loads((self.dir / f"{self.key}.pickle").read_bytes())
        except Exception:  # noqa: BLE001 - missing, truncated, another format: nothing cached
            return {}
        if not isinstance(doc, dict) or doc.get("format") != FORMAT or not isinstance(doc.get("entries"), dict):
            return {}
        return doc["entries"]

    def get(self, trace_key: str, path: str) -> list[Finding] | None:
        """Fresh copies of the findings kept for this trace at this path, or None (judge it)."""
        blob = self.entries.get(_entry(trace_key, path))
        if blob is None:
            return None
        try:
            findings = pickle.loads(blob)
        except Exception:  # noqa: BLE001 - a damaged entry is a miss
            return None
        if not isinstance(findings, list) or not all(isinstance(f, Finding) for f in findings):
            return None
        return findings

    def save(self, judged: list[tuple[str, RevisionTrace]], wanted: set[str]) -> None:
        """Keep the findings of each ``(trace key, revision)`` (call right after judging, before the
        baseline marks them), drop entries whose trace key is not in ``wanted`` (the keys some head
        names), and the oldest judgement files beyond ``MAX_KEYS``. Takes the store's lock. Raises
        OSError or filelock.Timeout."""
        new = {_entry(k, rev.path): pickle.dumps(rev.findings, protocol=pickle.HIGHEST_PROTOCOL) for k, rev in judged}
        with self.store.locked():
            self.dir.mkdir(exist_ok=True)
            entries = {**self._read(), **new}
            entries = {e: b for e, b in entries.items() if e.split("|", 1)[0] in wanted}
            _atomic_write(self.dir / f"{self.key}.pickle",
                          pickle.dumps({"format": FORMAT, "entries": entries}, protocol=pickle.HIGHEST_PROTOCOL))
            files = sorted(self.dir.glob("*.pickle"), key=lambda p: p.stat().st_mtime_ns)
            for old in files[:-MAX_KEYS]:
                with contextlib.suppress(OSError):
                    old.unlink()
            for tmp in self.dir.glob("*.tmp"):
                with contextlib.suppress(OSError):
                    tmp.unlink()
        self.entries = entries
