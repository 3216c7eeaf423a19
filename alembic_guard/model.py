"""Plain data passed between the pipeline stages (capture → trace → judge → report)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

# pg_locks.mode → the name used in the PostgreSQL docs ("Explicit Locking", table-level lock modes).
LOCK_MODE_NAMES = {
    "AccessShareLock": "ACCESS SHARE",
    "RowShareLock": "ROW SHARE",
    "RowExclusiveLock": "ROW EXCLUSIVE",
    "ShareUpdateExclusiveLock": "SHARE UPDATE EXCLUSIVE",
    "ShareLock": "SHARE",
    "ShareRowExclusiveLock": "SHARE ROW EXCLUSIVE",
    "ExclusiveLock": "EXCLUSIVE",
    "AccessExclusiveLock": "ACCESS EXCLUSIVE",
}
LOCK_STRENGTH = {name: i for i, name in enumerate(LOCK_MODE_NAMES.values())}

# What ordinary application traffic each mode blocks ("Conflicting Lock Modes" table).
BLOCKS = {
    "ACCESS SHARE": "nothing but ACCESS EXCLUSIVE",
    "ROW SHARE": "EXCLUSIVE and ACCESS EXCLUSIVE only",
    "ROW EXCLUSIVE": "SHARE and stronger (DDL)",
    "SHARE UPDATE EXCLUSIVE": "other DDL and VACUUM only; reads and writes continue",
    "SHARE": "INSERT, UPDATE and DELETE; reads continue",
    "SHARE ROW EXCLUSIVE": "INSERT, UPDATE, DELETE and most DDL; reads continue",
    "EXCLUSIVE": "everything except plain SELECT",
    "ACCESS EXCLUSIVE": "everything, SELECT included",
}
# Modes that block ordinary writes (SHARE and stronger): "dangerous" on a live table.
DANGEROUS_MODES = ("SHARE", "SHARE ROW EXCLUSIVE", "EXCLUSIVE", "ACCESS EXCLUSIVE")

SEVERITIES = ("error", "warning", "info")


@dataclass
class Relation:
    """A relation as seen on the migration connection."""

    oid: int
    schema: str
    name: str
    kind: str  # pg_class.relkind: r table, p partitioned table, i/I index, m matview, S sequence
    relfilenode: int = 0
    seq_scan: int = 0
    table_oid: int | None = None  # for an index: its table

    @property
    def qualified(self) -> str:
        return self.name if self.schema == "public" else f"{self.schema}.{self.name}"

    @property
    def is_index(self) -> bool:
        return self.kind in ("i", "I")


@dataclass
class Lock:
    """A relation-level lock the migration backend holds (``pg_locks``, ``locktype = 'relation'``)."""

    relation: str  # qualified name
    kind: str  # relkind
    mode: str  # docs name, e.g. "ACCESS EXCLUSIVE"
    preexisting: bool  # relation existed before this revision started
    statement_index: int = -1  # the statement that took it first (in this revision)
    held_ms: float = 0.0  # total time held across this revision's statements (ms)
    held_statements: int = 0  # statements executed while it was held (incl. the one that took it)
    revision: str = ""  # the revision whose statement took it

    @property
    def dangerous(self) -> bool:
        return self.mode in DANGEROUS_MODES

    def to_json(self) -> dict[str, Any]:
        return {"relation": self.relation, "mode": self.mode, "preexisting": self.preexisting}


@dataclass
class Observation:
    """What the shadow showed for one statement (trace stage)."""

    locks: list[Lock] = field(default_factory=list)  # held right after the statement
    new_locks: list[Lock] = field(default_factory=list)  # first taken by this statement
    rewritten: list[str] = field(default_factory=list)  # relfilenode changed (table or index rewrite)
    seq_scans: list[str] = field(default_factory=list)  # tables sequentially scanned by the statement
    created: list[str] = field(default_factory=list)  # relations that appeared
    duration_ms: float = 0.0
    rowcount: int = -1
    lock_timeout_ms: int = 0  # in force when the statement ran (0 = none)
    statement_timeout_ms: int = 0
    error: str | None = None
    sqlstate: str | None = None


@dataclass
class Statement:
    """One SQL statement a revision ran, with where it came from (capture stage)."""

    sql: str
    revision: str
    index: int  # position within the revision (0-based)
    path: str | None = None
    line: int | None = None
    in_transaction: bool = True
    observation: Observation = field(default_factory=Observation)

    def own_locks(self) -> list[Lock]:
        """Locks held right after this statement that this revision took, the ones that make it
        risky. Alembic's default env.py runs a whole ``upgrade`` in one transaction, so locks of
        earlier revisions of the run are still held, but deployed alone (as revisions usually are, one
        release at a time) this revision would not hold them: the revision that took a lock answers
        for it."""
        return [lk for lk in self.observation.locks if lk.revision in ("", self.revision)]

    def to_json(self) -> dict[str, Any]:
        o = self.observation
        own = self.own_locks()
        return {
            "index": self.index,
            "sql": self.sql,
            "line": self.line,
            "in_transaction": self.in_transaction,
            "locks": [lk.to_json() for lk in own],
            "inherited_locks": len(o.locks) - len(own),
            "new_locks": [lk.to_json() for lk in o.new_locks],
            "rewrites": o.rewritten,
            "seq_scans": o.seq_scans,
            "duration_ms": round(o.duration_ms, 3),
            "lock_timeout_ms": o.lock_timeout_ms,
            "statement_timeout_ms": o.statement_timeout_ms,
            "error": o.error,
        }


@dataclass
class Finding:
    """One rule's verdict on one statement (judge stage)."""

    rule: str
    severity: str  # error | warning | info
    message: str
    revision: str = ""
    path: str | None = None
    line: int | None = None
    table: str | None = None
    fix: str | None = None  # the safe alternative, as Alembic code with the real names
    docs: str | None = None  # PostgreSQL docs URL
    statement_index: int | None = None
    suppressed: str | None = None  # reason, when an inline/config suppression applies
    table_rows: int | None = None  # production size of ``table`` when statistics were given
    table_bytes: int | None = None

    def to_json(self) -> dict[str, Any]:
        return {
            "rule": self.rule,
            "severity": self.severity,
            "line": self.line,
            "table": self.table,
            "message": self.message,
            "fix": self.fix,
            "docs": self.docs,
            "statement": self.statement_index,
            "suppressed": self.suppressed,
            "table_rows": self.table_rows,
            "table_bytes": self.table_bytes,
        }


@dataclass
class RevisionTrace:
    """Everything known about one revision."""

    revision: str
    down_revision: str | tuple[str, ...] | None
    path: str
    doc: str = ""
    statements: list[Statement] = field(default_factory=list)
    findings: list[Finding] = field(default_factory=list)
    error: str | None = None  # the revision failed on the shadow (PostgreSQL's message)
    error_line: int | None = None
    skipped: str | None = None  # why it was not run (depends on a failed revision)
    preexisting: set[str] = field(default_factory=set)  # relations (qualified names) that existed before it ran
    traced: bool = False
    # Catalog facts at the revision's start (trace/keys.py): unique column lists per table (primary
    # key first), and the tables some publication replicates.
    unique_keys: dict[str, list[tuple[str, ...]]] = field(default_factory=dict)
    published: set[str] = field(default_factory=set)

    @property
    def verdict(self) -> str:
        if self.error or self.skipped:
            return "error"
        active = [f for f in self.findings if not f.suppressed]
        return "unsafe" if any(f.severity == "error" for f in active) else "safe"

    def to_json(self) -> dict[str, Any]:
        down = self.down_revision
        if isinstance(down, (tuple, list)):
            down = list(down)
        return {
            "revision": self.revision,
            "down_revision": down,
            "path": self.path,
            "message": self.doc,
            "verdict": self.verdict,
            "error": self.error or self.skipped,
            "statements": [s.to_json() for s in self.statements],
            "findings": [f.to_json() for f in self.findings],
            "locks_held": self.locks_held(),
        }

    def locks_held(self) -> list[dict[str, Any]]:
        """Write-blocking locks this revision took on pre-existing tables and how long each was held
        (``held_ms``: sum of the durations of the statements it was held across, on the shadow)."""
        out = []
        for st in self.statements:
            strongest: dict[str, int] = {}
            for lk in st.observation.new_locks:
                strongest[lk.relation] = max(strongest.get(lk.relation, -1), LOCK_STRENGTH.get(lk.mode, 0))
            for lk in st.observation.new_locks:
                if LOCK_STRENGTH.get(lk.mode, 0) < strongest[lk.relation]:
                    continue  # the same statement took a stronger mode on it: that one says it all
                if lk.dangerous and lk.preexisting and lk.kind not in ("i", "I"):
                    out.append({"relation": lk.relation, "mode": lk.mode, "line": st.line,
                                "statement": st.index, "held_ms": round(lk.held_ms, 3),
                                "held_statements": lk.held_statements})
        return out


@dataclass
class Report:
    """The result of one ``check`` run."""

    tool_version: str
    shadow_provider: str
    server_version: str
    server_version_num: int
    config: str
    revisions: list[RevisionTrace] = field(default_factory=list)
    tool_errors: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    duration_ms: float = 0.0
    fail_on: str = "error"

    def findings(self) -> list[Finding]:
        return [f for r in self.revisions for f in r.findings]

    def to_json(self) -> dict[str, Any]:
        counts = {v: 0 for v in ("safe", "unsafe", "error")}
        for r in self.revisions:
            counts[r.verdict] += 1
        return {
            "format_version": 1,
            "tool": {"name": "alembic-guard", "version": self.tool_version},
            "shadow": {"provider": self.shadow_provider, "server_version": self.server_version,
                       "server_version_num": self.server_version_num},
            "config": self.config,
            "summary": {"revisions": len(self.revisions), **counts,
                        "findings": sum(1 for f in self.findings() if not f.suppressed)},
            "duration_ms": round(self.duration_ms, 1),
            "revisions": [r.to_json() for r in self.revisions],
            "tool_errors": self.tool_errors,
            "notes": self.notes,
        }
