"""What a rule is, and the context it judges a statement in.

A rule is one unit (one file under ``alembic_guard/rules/``): id, title, default severity, rationale
with the PostgreSQL docs reference, the check, and the safe alternative rendered with the real
names. ``docs/rules/<id>.md`` is generated from the same class (``python -m alembic_guard.rules.docs``).
Rules read parsed SQL (pglast, "static") and the shadow's observations ("trace"); when they disagree
the trace wins (a type change that does not rewrite is not reported as a rewrite).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any, ClassVar

from ..locks import WRITE_BLOCKING, strongest
from ..model import Finding, Lock, RevisionTrace, Statement
from ..pg_versions import ALL_VERSIONS, Feature, VersionRange

PG_DOCS = "https://www.postgresql.org/docs/current/"


@dataclass
class Context:
    """One statement under judgement, with the facts around it."""

    statement: Statement
    node: Any | None  # pglast node, None when the SQL did not parse
    revision: RevisionTrace
    server_version_num: int  # the traced shadow's (= the target's major when target-version is set)
    previous: list[Statement] = field(default_factory=list)  # earlier statements of the revision
    # the SQL of ``node`` when it is a statement inside the statement's DO block or a function it
    # called (sql/plpgsql.py), judged with the statement's observation; None for the statement itself
    embedded_sql: str | None = None
    # rules/_common.inner_contexts' answer, kept: the judge and the rules that need it parse the body once
    inner_cache: list[Context] | None = field(default=None, init=False, repr=False, compare=False)

    @property
    def obs(self):
        return self.statement.observation

    @property
    def sql(self) -> str:
        return self.embedded_sql if self.embedded_sql is not None else self.statement.sql

    def resolve(self, relation: str | None) -> str | None:
        """The traced name (``schema.name``, public elided) of ``relation`` as the SQL names it. An
        unqualified name means the first schema of the session's search_path that has it, which the
        SQL does not say (the Alembic cookbook's multi-tenant env.py runs ``SET search_path TO
        tenant1``): when no relation of that bare name is locked in ``public`` but exactly one other
        schema's is, the statement worked on that one. Otherwise ``relation`` itself."""
        if relation is None or "." in relation:
            return relation
        # the locks this statement took first (an earlier statement's lock on public.t says nothing
        # about this one), then every lock held after it (this statement's lock may be an earlier one's)
        for locks in (self.obs.new_locks, self.obs.locks):
            locked = {lk.relation for lk in locks}
            if relation in locked:
                return relation
            others = {r for r in locked if r.rpartition(".")[2] == relation and "." in r}
            if others:
                return others.pop() if len(others) == 1 else relation
        return relation

    def preexisting(self, relation: str | None) -> bool:
        """True when ``relation`` (as named when this statement started) existed before this revision
        started, so it may be live and large. Identity is the pg_class OID: a table renamed earlier in
        the revision is still old, a new table given an old name is new."""
        if relation is None:
            return False
        names = self.statement.observation.preexisting_names
        names = names if names is not None else self.revision.preexisting
        return self.resolve(relation) in names

    def locks_on(self, relation: str | None, dangerous_only: bool = True) -> list[Lock]:
        """Locks this revision holds on ``relation`` right after this statement (a lock an earlier
        revision of the same transaction took does not count: deployed alone it would not be held)."""
        relation = self.resolve(relation)
        return [lk for lk in self.statement.own_locks()
                if lk.relation == relation and (lk.mode in WRITE_BLOCKING or not dangerous_only)]

    def strongest_lock(self, relation: str | None) -> str | None:
        relation = self.resolve(relation)
        return strongest(lk.mode for lk in self.statement.own_locks() if lk.relation == relation)

    def relkind(self, relation: str | None) -> str | None:
        """``pg_class.relkind`` of a relation this statement holds a lock on (``p`` = partitioned)."""
        relation = self.resolve(relation)
        return next((lk.kind for lk in self.obs.locks if lk.relation == relation), None)

    def table(self, relation: str | None):
        """The catalog facts (model.TableFacts) of a table when the revision started, or None."""
        return self.revision.tables.get(self.resolve(relation)) if relation else None

    def facts(self):
        """What a recipe's hint needs to know about this statement (rewrite.facts.Facts), from the
        trace: relations that pre-exist, the catalog when the revision started, the server version."""
        from ..rewrite.facts import Facts

        tables = self.revision.tables
        obs = self.obs
        return Facts(
            preexisting=self.preexisting,
            relkind=lambda t: self.relkind(t) or (tables[t].kind if t in tables else None),
            statements=[self.sql], rewritten=set(obs.rewritten), scanned=set(obs.seq_scans),
            lock_timeout_ms=obs.lock_timeout_ms or 0, server_version_num=self.server_version_num,
            matview_has_unique_index=lambda m: bool(tables.get(m)) and tables[m].has_unique_index_without_where(),
            has_default_partition=lambda t: any(f.parent == t and f.partition_bound == "DEFAULT"
                                                for f in tables.values()),
            tables=tables)

    def rewritten(self, relation: str | None) -> bool:
        return self.resolve(relation) in self.obs.rewritten

    def scanned(self, relation: str | None) -> bool:
        return self.resolve(relation) in self.obs.seq_scans


class Rule:
    """Base class; subclasses set the class attributes and implement ``check``."""

    id: ClassVar[str] = ""
    title: ClassVar[str] = ""
    severity: ClassVar[str] = "error"
    docs: ClassVar[str] = PG_DOCS + "explicit-locking.html"
    rationale: ClassVar[str] = ""
    bad_example: ClassVar[str] = ""  # Alembic code the rule reports
    good_example: ClassVar[str] = ""  # the safe alternative
    # "safety" (locks, rewrites, compatibility with running code) or "design" (schema design
    # practice: default severity warning or info; they never make a revision unsafe by default)
    category: ClassVar[str] = "safety"
    # A trace-first rule: reported unless a specific rule's error explains the same lock (judge.py)
    generic: ClassVar[bool] = False
    # Grouping (judge.py): the findings of this rule in one revision that give the same advice become
    # one finding listing the statements. ``group_as`` (e.g. "statements take write-blocking locks with
    # no lock_timeout") opens the grouped message, followed by each finding's ``detail`` with its line;
    # ``group_tail`` closes it. ``group_fixes``: "same" merges only findings with the same fix text,
    # "combine" merges findings whose fixes differ only in names and lists every fix (an error is
    # still merged only with the same fix).
    group_as: ClassVar[str | None] = None
    group_tail: ClassVar[str] = ""
    group_fixes: ClassVar[str] = "same"
    # Versions (alembic_guard/pg_versions.py): ``versions`` is the range of PostgreSQL majors where the
    # rule's fact holds, e.g. ``VersionRange(12, None, source="<release notes>")`` or
    # ``VersionRange.since(pg_versions.REINDEX_CONCURRENTLY)``; outside it the rule is not run (judge.py).
    # Default: every version. ``features``: the version-dependent features the rule's message or
    # advice names (its hint names each only where the target has it); both show on the docs page.
    versions: ClassVar[VersionRange] = ALL_VERSIONS
    # The rule reports work the trace could not see (code that depends on rows the shadow lacks): its
    # unsuppressed findings make the verdict "unknown", never "safe" (model.RevisionTrace.verdict)
    unseen: ClassVar[bool] = False
    features: ClassVar[tuple[Feature, ...]] = ()

    def applies(self, server_version_num: int) -> bool:
        """Whether the rule's fact holds on a server of ``server_version_num`` (0: unknown → True)."""
        return self.versions.covers(server_version_num)

    def group_message(self, findings: list[Finding]) -> str:
        """The message of one finding standing for ``findings`` (same rule, same advice)."""
        by_line: dict[int | None, list[str]] = {}
        for f in findings:
            by_line.setdefault(f.line, []).append(f.detail or f.table or "")
        parts = [(f"{line} ({', '.join(d for d in details if d)})" if any(details) else f"{line}")
                 for line, details in by_line.items()]
        lines_word = "line" if len(parts) == 1 else "lines"
        count = len({(f.statement_index, f.line) for f in findings})
        text = f"{count} {self.group_as}: {lines_word} {', '.join(parts)}"
        return text + (f"; {self.group_tail}" if self.group_tail else ".")

    def check(self, ctx: Context) -> Iterable[Finding]:
        raise NotImplementedError

    def finding(self, ctx: Context, message: str, *, table: str | None = None, fix: str | None = None,
                severity: str | None = None, relations: list[str] | None = None,
                detail: str | None = None) -> Finding:
        """A finding on the statement; ``relations``: other relations it answers for (a specific
        error finding replaces the trace-first finding on ``table`` and on these); ``detail``: the
        statement-specific part, listed when findings of the rule are grouped (``group_as``)."""
        st = ctx.statement
        return Finding(rule=self.id, severity=severity or self.severity, message=message,
                       revision=st.revision, path=st.path, line=st.line, table=table, fix=fix,
                       docs=self.docs, statement_index=st.index, relations=list(relations or ()),
                       detail=detail, unseen=self.unseen)


_REGISTRY: list[type[Rule]] = []


def register(cls: type[Rule]) -> type[Rule]:
    """Class decorator adding a rule to the registry (ids must be unique)."""
    if any(r.id == cls.id for r in _REGISTRY):
        raise ValueError(f"duplicate rule id {cls.id}")
    _REGISTRY.append(cls)
    return cls


def design_rule_ids() -> tuple[str, ...]:
    """The ids of the schema design rules (``category = "design"``)."""
    return tuple(r.id for r in all_rules() if r.category == "design")


def all_rules() -> Iterator[Rule]:
    from . import catalog  # noqa: F401  (imports every rule module)

    for cls in _REGISTRY:
        yield cls()
