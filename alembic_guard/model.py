"""Plain data passed between the pipeline stages (capture → trace → judge → report)."""

from __future__ import annotations

import pickle
from dataclasses import dataclass, field
from typing import Any

from .locks import LOCK_STRENGTH, blocks_traffic

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
    n_mod: int = 0  # rows updated + deleted in this transaction (pg_stat_xact_user_tables)

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
    preexisting: bool  # relation existed before this revision started (same pg_class OID)
    oid: int = 0  # pg_class OID (identity across renames)
    table_oid: int | None = None  # for an index: its table
    queued: bool = True  # taking it could wait behind other sessions (False: the transaction already
    #                      held a mode that conflicts with everything this one conflicts with)
    sampled: bool = False  # seen by sampling pg_locks while the statement ran (outside a transaction)
    statement_index: int = -1  # the statement that took it first (in this revision)
    held_ms: float = 0.0  # total time held across the statements and the Python code between them (ms)
    held_statements: int = 0  # statements executed while it was held (incl. the one that took it)
    revision: str = ""  # the revision whose statement took it

    @property
    def dangerous(self) -> bool:
        """It stops the relation's ordinary traffic (locks.blocks_traffic: SHARE or stronger; on a
        materialized view only ACCESS EXCLUSIVE)."""
        return blocks_traffic(self.mode, self.kind)

    def to_json(self) -> dict[str, Any]:
        """Recorded once, at the statement that took it, with the span it was held over
        (``held_statements`` statements from that one, ``held_ms`` ms): linear in the statements."""
        return {"relation": self.relation, "mode": self.mode, "preexisting": self.preexisting, "kind": self.kind,
                "held_statements": self.held_statements, "held_ms": round(self.held_ms, 3)}


@dataclass
class Observation:
    """What the shadow showed for one statement (trace stage)."""

    locks: list[Lock] = field(default_factory=list)  # held right after the statement
    new_locks: list[Lock] = field(default_factory=list)  # first taken by this statement
    rewritten: list[str] = field(default_factory=list)  # relfilenode changed (table or index rewrite)
    seq_scans: list[str] = field(default_factory=list)  # tables sequentially scanned by the statement
    created: list[str] = field(default_factory=list)  # relations that appeared
    dropped: list[str] = field(default_factory=list)  # relations that disappeared
    # The same facts by pg_class OID, the identity rules use (names change with RENAME): tables
    # rewritten (an index rewrite counts for its table), scanned, and given a new index (a build).
    rewritten_oids: list[int] = field(default_factory=list)
    scanned_oids: list[int] = field(default_factory=list)
    built_oids: list[int] = field(default_factory=list)
    dropped_oids: list[int] = field(default_factory=list)
    modified_oids: list[int] = field(default_factory=list)  # tables whose rows it updated or deleted
    # Names (qualified) of the relations that existed before the revision, as named when this
    # statement started; shared between statements until a rename or drop changes it.
    preexisting_names: frozenset[str] | None = None
    names: dict[int, str] = field(default_factory=dict)  # qualified names of the OIDs above
    sampled: bool = False  # ran outside a transaction block: locks sampled while it ran, scans from
    #                        the cumulative statistics (see trace/autocommit.py)
    xact: str = ""  # identifies the transaction it ran in ("" when unknown)
    duration_ms: float = 0.0
    # the revision's own Python time before the statement, since its previous traced statement ended
    # (ms; tracing excluded): locks its transaction holds are held through it
    gap_ms: float = 0.0
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
    source_sql: str | None = None  # as the revision wrote it, when ``sql`` differs (parameters
    #                               rendered with the values the driver sent, or one part of a string
    #                               of several statements)
    part: int = 0  # position within a string of several statements (0 = the first or only one)
    coverage: str = "parsed"  # "parsed" | "trace-only" (DO block, function call, unparsable SQL)
    coverage_reason: str = ""  # why trace-only
    # (language, source) of each function or procedure of the project's own the statement calls, as
    # pg_proc held them when it ran (PL/pgSQL: the whole definition, pg_get_functiondef; SQL: the
    # body): the rules read the statements in it
    function_bodies: list[tuple[str, str]] = field(default_factory=list)
    by_ops: bool = False  # issued by an alembic_guard.ops operation (op.backfill & co.), not the revision's own code

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
            "coverage": self.coverage,
            "in_transaction": self.in_transaction,
            # how many locks are held after it; each lock itself is listed once, in ``new_locks``
            # of the statement that took it, with the span it was held over (format_version 2)
            "held_locks": len(own),
            "inherited_locks": len(o.locks) - len(own),
            "new_locks": [lk.to_json() for lk in o.new_locks],
            "source_sql": self.source_sql,
            "rewrites": o.rewritten,
            "seq_scans": o.seq_scans,
            "duration_ms": round(o.duration_ms, 3),
            "python_ms": round(o.gap_ms, 3),
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
    relations: list[str] = field(default_factory=list)  # other relations the finding answers for
    suppressed: str | None = None  # reason, when an inline/config suppression applies
    table_rows: int | None = None  # production size of ``table`` when statistics were given
    table_bytes: int | None = None
    # Every line the finding covers: the statements of a revision whose findings of one rule gave the
    # same advice are reported as one finding (judge.py, grouping); ``line`` is the first of them.
    lines: list[int] = field(default_factory=list)
    detail: str | None = field(default=None, repr=False)  # the statement-specific part, for grouping
    # the finding names work the trace could not see (Rule.unseen): unsuppressed, the verdict is "unknown"
    unseen: bool = False

    def __post_init__(self) -> None:
        if not self.lines and self.line is not None:
            self.lines = [self.line]

    def to_json(self) -> dict[str, Any]:
        return {
            "rule": self.rule,
            "severity": self.severity,
            "line": self.line,
            "lines": list(self.lines) or ([self.line] if self.line is not None else []),
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
class TableFacts:
    """A table as the catalog describes it when a revision starts (trace/keys.py ``table_facts``).

    ``kind``: ``pg_class.relkind``; ``columns``: name → SQL type (``format_type``, e.g.
    ``character varying(20)``), in column order; ``not_null``: NOT NULL columns; ``primary_key``: its
    columns in key order (empty: none); ``partition_key``: ``pg_get_partkeydef`` (``RANGE (created_at)``)
    of a partitioned table; ``partition_bound``: ``FOR VALUES …`` of a partition; ``indexes``: index
    name → ``pg_get_indexdef``; ``constraints``: constraint name → ``pg_get_constraintdef``."""

    kind: str = "r"
    columns: dict[str, str] = field(default_factory=dict)
    not_null: set[str] = field(default_factory=set)
    primary_key: tuple[str, ...] = ()
    partition_key: str | None = None
    partition_bound: str | None = None
    parent: str | None = None  # a partition's partitioned table (qualified name)
    row_security: bool = False  # pg_class.relrowsecurity: ENABLE ROW LEVEL SECURITY
    indexes: dict[str, str] = field(default_factory=dict)
    constraints: dict[str, str] = field(default_factory=dict)

    def has_unique_index_without_where(self) -> bool:
        """A unique index on plain columns without a WHERE (what REFRESH … CONCURRENTLY needs)."""
        from pglast import ast

        from .sql.parse import parse_one

        for definition in self.indexes.values():
            node = parse_one(definition)
            if isinstance(node, ast.IndexStmt) and node.unique and node.whereClause is None \
                    and all(getattr(p, "name", None) for p in node.indexParams or ()):
                return True
        return False


# The catalog facts of a RevisionTrace that only judging reads (rules and recipes, via judge.py).
# They are most of a stored trace's bytes (``tables`` grows with the schema), and a trace reused from
# the incremental cache is seldom judged again: the store keeps them pickled apart (``defer_facts``),
# unpickled on first access.
JUDGING_FACTS = ("preexisting", "preexisting_oids", "unique_keys", "published", "tables")


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
    preexisting_oids: set[int] = field(default_factory=set)  # the same relations by pg_class OID
    traced: bool = False
    cached: bool = False  # the trace comes from the incremental cache (alembic_guard/incremental)
    # Statements the trace could not see, each with the reason (a raw DBAPI connection, a schema
    # change no traced statement made). Any makes the verdict "unknown", never "safe".
    unseen: list[str] = field(default_factory=list)
    # Catalog facts at the revision's start (trace/keys.py): unique column lists per table (primary
    # key first), and the tables some publication replicates.
    unique_keys: dict[str, list[tuple[str, ...]]] = field(default_factory=dict)
    published: set[str] = field(default_factory=set)
    tables: dict[str, TableFacts] = field(default_factory=dict, repr=False)  # qualified name → facts
    # its Python time after its last traced statement, until Alembic wrote its version row (ms)
    tail_ms: float = 0.0
    # capture/downgrade.py's DowngradeResult when its downgrade was run on the shadow, else None
    downgrade: Any = field(default=None, repr=False)

    def __getattr__(self, name: str) -> Any:
        # Python calls this only for an attribute the instance lacks: a judging fact still deferred
        deferred = self.__dict__.get("_deferred_facts")
        if deferred is None or name not in JUDGING_FACTS:
            raise AttributeError(f"{type(self).__name__!r} object has no attribute {name!r}")
        del self.__dict__["_deferred_facts"]
        self.__dict__.update(pickle.loads(deferred))
        return self.__dict__[name]

    def defer_facts(self) -> RevisionTrace:
        """A shallow copy whose JUDGING_FACTS travel as one pickled blob, restored on first access
        (pickling the copy then unpickling it skips their objects: 4-5x faster on a long history)."""
        light = RevisionTrace.__new__(RevisionTrace)
        light.__dict__.update(self.__dict__)
        if "_deferred_facts" not in light.__dict__:
            light.__dict__["_deferred_facts"] = pickle.dumps(
                {name: light.__dict__.pop(name) for name in JUDGING_FACTS}, protocol=pickle.HIGHEST_PROTOCOL)
        return light

    @property
    def verdict(self) -> str:
        """``error`` (failed or not run), ``unsafe`` (an error finding), ``unknown`` (a statement
        was not seen), else ``safe``."""
        if self.error or self.skipped:
            return "error"
        active = [f for f in self.findings if not f.suppressed]
        if any(f.severity == "error" for f in active):
            return "unsafe"
        return "unknown" if self.unseen or any(f.unseen for f in active) else "safe"

    def coverage(self) -> dict[str, Any]:
        """Statements traced, of them parsed and judged by trace only, and those not seen (reasons)."""
        trace_only = sum(1 for s in self.statements if s.coverage == "trace-only")
        reasons = list(self.unseen) + [f"line {f.line}: {f.message}" for f in self.findings
                                       if f.unseen and not f.suppressed]
        return {"traced": len(self.statements), "parsed": len(self.statements) - trace_only,
                "trace_only": trace_only, "not_seen": len(reasons), "not_seen_reasons": reasons}

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
            "coverage": self.coverage(),
            "statements": [s.to_json() for s in self.statements],
            "findings": [f.to_json() for f in self.findings],
            "locks_held": self.locks_held(),
            "cached": self.cached,
        }

    def locks_held(self) -> list[dict[str, Any]]:
        """Write-blocking locks this revision took on pre-existing tables and how long each was held
        (``held_ms``: how long it was held on the shadow, the statements it was held across and the
        revision's Python code between them)."""
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
    fail_on_unknown: bool = True  # an "unknown" verdict fails the check
    transaction_mode: str = ""  # how env.py ran the revisions (trace/modes.py)
    # --changed-since: {"ref", "merge_base", "not_reported"} (revisions traced but filtered out)
    changed_since: dict[str, Any] | None = None

    def coverage(self) -> dict[str, Any]:
        """The revisions' coverage (RevisionTrace.coverage) summed."""
        total: dict[str, Any] = {"traced": 0, "parsed": 0, "trace_only": 0, "not_seen": 0}
        for r in self.revisions:
            for key, value in r.coverage().items():
                if key in total:
                    total[key] += value
        return total

    def findings(self) -> list[Finding]:
        return [f for r in self.revisions for f in r.findings]

    def to_json(self) -> dict[str, Any]:
        counts = {v: 0 for v in ("safe", "unsafe", "unknown", "error")}
        for r in self.revisions:
            counts[r.verdict] += 1
        return {
            "format_version": 2,
            "tool": {"name": "alembic-guard", "version": self.tool_version},
            "shadow": {"provider": self.shadow_provider, "server_version": self.server_version,
                       "server_version_num": self.server_version_num},
            "config": self.config,
            "transaction_mode": self.transaction_mode,
            "coverage": self.coverage(),
            "summary": {"revisions": len(self.revisions), **counts,
                        "findings": sum(1 for f in self.findings() if not f.suppressed),
                        "baselined": sum(1 for f in self.findings() if f.suppressed == "baseline")},
            "changed_since": self.changed_since,
            "duration_ms": round(self.duration_ms, 1),
            "revisions": [r.to_json() for r in self.revisions],
            "tool_errors": self.tool_errors,
            "notes": self.notes,
        }
