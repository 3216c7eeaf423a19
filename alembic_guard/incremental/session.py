"""One check's use of the incremental cache: which template to start from, what to trace, what to keep.

``Incremental.prepare`` never raises for a cache problem: whatever is odd (a branched history, a
template whose database is gone, unreadable traces, a locked store) turns the cache off for the run,
or makes it a cold one, and the trace runs in full. See the package docstring for the design.
"""

from __future__ import annotations

import contextlib
import hashlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import filelock
import psycopg

from ..capture import inputs
from ..model import RevisionTrace
from ..shadow import roles
from ..shadow.server import ShadowServer
from . import templates
from .judged import Judged, judgement_key
from .key import resolver, chain, context_key
from .store import Store

try:  # the cache location moved to shadow/cache.py with the cache rework; either serves
    from ..shadow.cache import cache_root  # type: ignore[import-not-found]
except ImportError:  # pragma: no cover - before that rework
    from ..shadow.cluster import cache_root

# Providers whose server runs on a data directory alembic_guard keeps; only its warm cluster (the
# data dir in the cache, not a private copy in a temp dir) persists from one run to the next.
_CLUSTER_PROVIDERS = roles.OWN_PROVIDERS


def _persistent_dir(server: ShadowServer) -> Path | None:
    """The store directory for ``server`` when its databases outlive this run, else None: the warm
    cluster's data directory lies in the cache (a concurrent run's private copy lies in a temp dir).
    Keyed by the cluster's ``system_identifier`` (new at every initdb) and data directory, so a
    rebuilt cluster starts with an empty store."""
    if server.provider not in _CLUSTER_PROVIDERS:
        return None
    try:
        with psycopg.connect(server.conninfo(server.admin_db), autocommit=True, connect_timeout=10) as conn:
            data_dir, sysid = conn.execute("select current_setting('data_directory'), system_identifier "
                                           "from pg_control_system()").fetchone()
    except psycopg.Error:
        return None
    root = cache_root().resolve()
    # as root the server sees its data dir through a bind mount in the run dir: ours is the real path
    data = Path(getattr(server, "data_dir", None) or data_dir).resolve()
    if not data.is_relative_to(root) or data.is_relative_to(Path(server.host).resolve()):
        return None
    cluster_id = hashlib.sha256(f"{sysid}|{data}".encode()).hexdigest()[:16]
    return root / "incremental" / cluster_id


def _linear(project) -> list | None:
    """The revisions base first when the history is one line (one base, one head, no merge, no
    ``depends_on``), else None."""
    ordered = project.ordered()
    previous = None
    for sc in ordered:
        if sc.down_revision != previous or getattr(sc, "dependencies", None):
            return None
        previous = sc.revision
    return ordered


def _index(project, ids: list[str], rev: str | None, default: int) -> int | None:
    """Position (1-based: revisions applied) of ``--from``/``--to`` ``rev`` in ``ids``; None if unknown."""
    if not rev:
        return default
    if rev == "base":
        return 0
    if rev in ("head", "heads"):
        return len(ids)
    try:
        sc = project.script.get_revision(rev)
    except Exception:  # noqa: BLE001 - check_range reported bad ones already
        return None
    return ids.index(sc.revision) + 1 if sc is not None and sc.revision in ids else None


def _repath(trace: RevisionTrace, path: str) -> RevisionTrace:
    """The same content may now live at another path (a checkout elsewhere): point the trace there."""
    old = trace.path
    if old != path:
        trace.path = path
        for st in trace.statements:
            if st.path == old:
                st.path = path
    return trace


def _own_file_only(rev: RevisionTrace) -> bool:
    """Whether judging ``rev`` read no file but its own (whose bytes are in its trace key): every
    statement and finding is placed in it. A statement placed in a helper module (capture/origin.py)
    is judged with that file's suppression comments, so such a revision is judged again each run."""
    return all(st.path in (rev.path, None) for st in rev.statements) \
        and all(f.path in (rev.path, None) for f in rev.findings)


@dataclass
class Incremental:
    """The cache's part in one check; ``active`` False: the run is as without it."""

    server: ShadowServer | None = None
    store: Store | None = None
    project_id: str = ""
    ids: list[str] = field(default_factory=list)
    paths: list[str] = field(default_factory=list)
    keys: list[str] = field(default_factory=list)
    context: str = ""
    from_index: int = 0
    to_index: int = 0
    start: int = 0  # revisions the template holds (0: none, a cold run)
    head: dict | None = None  # the heads.json entry of that template
    cached: list[RevisionTrace] = field(default_factory=list)  # traces of revisions 1..start
    # revision id → trace key, for the revisions whose trace is in the store (the cached ones, and
    # the ones this run kept): only their findings may be kept by the judgement cache (judged.py)
    stored: dict[str, str] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    root: Path = Path(".")  # the config file's directory: input paths under it are kept relative

    @property
    def active(self) -> bool:
        return self.store is not None

    @classmethod
    def prepare(cls, project, server: ShadowServer, *, from_rev: str | None, to_rev: str | None,
                config_file: str, section: str, x_args: list[str], enabled: bool = True,
                production_roles: list[str] | None = None) -> Incremental:
        """Plan the run (after ``project.load_revisions``): the newest template whose key is that of a
        prefix of the history up to ``--to``. Off (``active`` False) for ``--no-cache``, a shadow that
        does not persist, or a history that is not one line."""
        off = cls()
        if not enabled:
            return off
        directory = _persistent_dir(server)
        ordered = _linear(project) if directory else None
        if not ordered:
            return off
        ids = [sc.revision for sc in ordered]
        f, t = _index(project, ids, from_rev, 0), _index(project, ids, to_rev, len(ids))
        if f is None or t is None or f > t:
            return off
        config_path = Path(config_file).resolve()
        resolve = resolver()
        files = [resolve(sc.path) for sc in ordered]
        try:
            store = Store(directory)
            context = context_key(config_file=config_path, section=section, x_args=x_args,
                                  script_dir=Path(project.script.dir).resolve(), revision_files=set(files),
                                  server_version=server.version, server_description=server.description,
                                  production_roles=production_roles or [])
            keys = chain(context, list(zip(ids, files, strict=True)))
        except OSError:
            return off
        inc = cls(server=server, store=store, project_id=hashlib.sha256(f"{config_path}|{section}".encode())
                  .hexdigest()[:16], ids=ids, paths=[sc.path for sc in ordered], keys=keys, context=context,
                  from_index=f, to_index=t, root=config_path.parent)
        inc._pick()
        return inc

    def _pick(self) -> None:
        """Find the template that covers the longest prefix up to ``to_index`` and load its traces."""
        assert self.store is not None and self.server is not None
        try:
            with self.store.locked():
                heads = {h["key"]: h for h in self.store.heads()}
                present = templates.existing(self.server)
                gone = {k for k, h in heads.items() if h["db"] not in present}
                if gone:
                    self.store.forget(gone)
        except (filelock.Timeout, OSError, psycopg.Error):
            self.store = None
            return
        for n in range(self.to_index, 0, -1):
            head = heads.get(self.keys[n - 1])
            if head is None or head.get("chain") != self.keys[:n]:
                continue
            changed = inputs.changed_inputs(head.get("inputs", {}), self.root)
            if changed:
                self.notes.append(f"a file the revisions up to {self.ids[n - 1]} read changed since it was cached "
                                  f"({changed[0]}{' and others' if len(changed) > 1 else ''}): traced again")
                continue
            lost = templates.missing_roles(self.server, head.get("roles", {})) if head["key"] not in gone else []
            if lost:
                self.notes.append(f"role {lost[0]}, which the cached template for revision {self.ids[n - 1]} needs, "
                                  "is gone from the shadow; tracing from an earlier state")
                continue
            if head["key"] in gone:
                self.notes.append(f"the cached template database for revision {self.ids[n - 1]} is gone; "
                                  "tracing from an earlier state")
                continue
            traces = self.store.load_traces(self.keys[:n])
            if traces is None:
                self.notes.append(f"the cached traces up to revision {self.ids[n - 1]} are incomplete; "
                                  "tracing from an earlier state")
                continue
            self.start, self.head = n, head
            self.cached = [_repath(tr, path) for tr, path in zip(traces, self.paths[:n], strict=True)]
            for tr in self.cached:
                tr.cached = True
            self.stored = dict(zip(self.ids[:n], self.keys[:n], strict=True))
            return

    @property
    def preapplied(self) -> set[str]:
        """Revision ids the run's database already holds (the template's), not to be traced."""
        return set(self.ids[:self.start])

    @property
    def needs_trace(self) -> bool:
        """Whether any revision is left to trace (False: every one comes from the cache)."""
        return not self.active or self.to_index > self.start

    def runner_from(self, from_rev: str | None) -> str | None:
        """The ``--from`` for the Runner: kept when it lies beyond the template (applied untraced
        from there), else None (the template is already past it)."""
        return from_rev if not self.active or self.from_index > self.start else None

    @contextlib.contextmanager
    def database(self, scratch: Callable[[], str]) -> Iterator[str]:
        """The database to run in: a clone of the template (dropped on exit unless kept), or the
        scratch database (``scratch()`` creates it) for a cold run. A clone that fails makes the run
        cold, with a note. When every revision comes from the cache nothing runs at all: the name is
        then the template's own, which nobody connects to (the Runner is not run, ``finish`` keeps
        nothing), and no database is created."""
        if self.head is None:
            yield scratch()
            return
        if not self.needs_trace:
            yield self.head["db"]
            return
        assert self.server is not None
        try:
            clone = templates.clone(self.server, self.head["db"], self.head.get("roles", {}))
        except psycopg.Error as exc:
            self.notes.append(f"the cached template for revision {self.ids[self.start - 1]} could not be "
                              f"cloned ({str(exc).strip().splitlines()[0]}); traced in full")
            self.start, self.head, self.cached, self.stored = 0, None, [], {}
            yield scratch()
            return
        try:
            yield clone
        finally:
            with contextlib.suppress(psycopg.Error):
                templates.drop(self.server, [clone])

    def finish(self, traced: list[RevisionTrace], runner, dbname: str,
               read: inputs.Recorder | None = None) -> list[RevisionTrace]:
        """The report's revisions: the cached traces after ``--from``, then the traced ones. Keeps the
        run's database as a new template (and the new traces) when the run is complete and clean.
        ``read``: the run's ``capture.inputs.Recorder``, whose files become the new template's inputs."""
        revisions = [tr for i, tr in enumerate(self.cached, 1) if i > self.from_index] + traced
        if self.start:
            reused = len(revisions) - len(traced)
            self.notes.append(f"{reused} revision(s) reused from the incremental cache (schema state after "
                              f"{self.ids[self.start - 1]} cloned from a template database); {len(traced)} traced")
            if not self.needs_trace and self.head:
                runner.transaction_mode = self.head.get("transaction_mode", "")
            for note in self.head.get("notes", []) if self.head else []:
                if note not in runner.notes:
                    runner.notes.append(note)
        if self.active and self._complete(traced, runner):
            self._keep(traced, runner, dbname, read)
        return revisions

    def judge(self, revisions: list[RevisionTrace], server_version_num: int, *, disabled: list[str],
              severity: dict[str, str], sizes: dict | None, config_source: str | None) -> None:
        """``judge.judge`` the revisions (in place), reusing the findings an earlier run kept for a
        stored trace under the same judgement key (judged.py); the others are judged now and their
        findings kept. Off (everything judged) when the cache is; any cache trouble only re-judges."""
        from ..judge import judge

        def run(revs):
            judge(revs, server_version_num, disabled=disabled, severity=severity, sizes=sizes)

        if not self.active or not self.stored:
            run(revisions)
            return
        assert self.store is not None
        try:
            cache = Judged(self.store, judgement_key(server_version_num=server_version_num, disabled=disabled,
                                                     severity=severity, sizes=sizes, config_source=config_source))
        except OSError:
            run(revisions)
            return
        todo, reused = [], 0
        for rev in revisions:
            key = self.stored.get(rev.revision)
            # a downgrade run in this check is a judging input of its own: judged again, never kept
            # only a trace read from the cache keeps its findings: one traced now has the key of the
            # stored one, yet differs from it when a file the revision reads changed (capture/inputs.py)
            findings = cache.get(key, rev.path) if key and rev.downgrade is None and rev.cached else None
            if findings is None:
                todo.append(rev)
            else:
                rev.findings = findings
                reused += 1
        run(todo)
        fresh = [(self.stored[r.revision], r) for r in todo
                 if r.revision in self.stored and r.downgrade is None and _own_file_only(r)]
        if reused:
            self.notes.append(f"{reused} revision(s) judged by an earlier check with the same rules, configuration "
                              f"and statistics: their findings reused; {len(todo)} judged")
        if fresh:
            try:
                wanted = {k for h in self.store.heads() for k in h["chain"]}
                cache.save(fresh, wanted)
            except (filelock.Timeout, OSError) as exc:
                self.notes.append(f"the judgement cache could not be updated: {exc}")

    def _complete(self, traced: list[RevisionTrace], runner) -> bool:
        """Cache only what a later run may reuse: every revision up to ``--to`` traced here or cached,
        none failed, no tool error, and no revision file changed while it ran."""
        if not traced or self.from_index > self.start or runner.tool_errors:
            return False
        if [t.revision for t in traced] != self.ids[self.start:self.to_index]:
            return False
        if any(t.error or t.skipped for t in traced):
            return False
        try:
            resolve = resolver()
            now = chain(self.context, [(i, resolve(p)) for i, p in zip(self.ids, self.paths, strict=True)])
        except OSError:
            now = []
        if now != self.keys:
            self.notes.append("a revision file changed during the check: nothing was kept in the incremental cache")
            return False
        return True

    def _inputs(self, read: inputs.Recorder | None) -> dict[str, str]:
        """The files (and listings) the revisions up to the new head read: the template's, and this
        run's (capture/inputs.py); a later run reuses the head only while they are unchanged."""
        out = dict(self.head.get("inputs", {})) if self.head else {}
        if read is not None:
            out.update(read.digest(self.root))
        return out

    def _keep(self, traced: list[RevisionTrace], runner, dbname: str, read: inputs.Recorder | None) -> None:
        """Store the new traces, rename the run's database to the head's template, record the entry;
        evict beyond the bounds and drop leftovers of killed runs. A failure only loses the cache."""
        assert self.store is not None and self.server is not None
        t = self.to_index
        key = self.keys[t - 1]
        try:
            with self.store.locked():
                self.store.save_traces(list(zip(self.keys[self.start:t], traced, strict=True)))
                state_roles = roles.state_of(self.server)
                name = templates.keep(self.server, dbname, key)
                evicted = self.store.add_head({
                    "key": key, "db": name, "revision": self.ids[t - 1], "count": t, "chain": self.keys[:t],
                    "project": self.project_id, "notes": list(runner.notes),
                    "transaction_mode": runner.transaction_mode, "inputs": self._inputs(read),
                    "roles": state_roles})
                known = {h["db"] for h in self.store.heads()}
                orphans = templates.existing(self.server) - known  # a killed run renamed, never recorded
                templates.drop(self.server, set(evicted) | orphans)
                templates.prune_roles(self.server, {oid for h in self.store.heads()
                                                    for oid in h.get("roles", {}).values()})
                self.store.prune()
            self.stored.update(zip(self.ids[self.start:t], self.keys[self.start:t], strict=True))
        except (filelock.Timeout, OSError, psycopg.Error) as exc:
            self.notes.append(f"the incremental cache could not be updated: {exc}")
