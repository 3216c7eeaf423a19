"""Prove a rewrite on the shadow: same final catalog as the original, no dangerous lock over budget.

For one revision the original and the rewritten revision file are applied from the same base on two
scratch databases of one shadow server: the project's revisions up to the base are applied once
(untraced) in the first database, the tables the revision touches are seeded with a few thousand
rows shaped by their constraints (rewrite.seed), and the second database is cloned from it
(``CREATE DATABASE … TEMPLATE``). Then each database runs its version of the revision through
Alembic, traced, and the final catalogs are compared (:mod:`alembic_guard.schema_compare`), and so
is the data of the seeded tables (``data_differences``): a rewrite that fails, or does something
else, only on a non-empty table is rejected.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from ..alembic_api import version_locations
from ..capture.project import Project, load_project, script_directory
from ..capture.redirect import redirect_connections
from ..capture.runner import Runner
from ..errors import GuardError
from ..locks import TABLE_KINDS
from ..model import RevisionTrace
from ..schema_compare import compare_catalogs, read_catalog
from ..shadow import ShadowServer, roles, scratch_database
from .seed import DEFAULT_ROWS, seed_tables

#: SQLSTATEs of a revision that cannot run as written but that fix repairs by moving a step out of
#: the transaction: 25001 (CONCURRENTLY in a transaction block), 55P04 (unsafe use of a new enum value)
UNRUNNABLE_AS_WRITTEN = ("25001", "55P04")


@dataclass(frozen=True)
class LockBudget:
    """How much a dangerous lock (``Lock.dangerous``: locks.blocks_traffic) on a pre-existing
    table may cost in a rewrite: held at most ``max_held_ms`` milliseconds in total on the (seeded,
    small) shadow, and no table rewrite / sequential scan of that table while it is held (unless
    ``allow_rewrite`` / ``allow_scan``)."""

    max_held_ms: float = 100.0
    allow_scan: bool = False
    allow_rewrite: bool = False


@dataclass
class Proof:
    """Result of proving one rewrite. ``accepted`` when both revisions ran, the catalogs are equal
    and the rewrite's locks are within budget."""

    server_version: str = ""
    differences: list[str] = field(default_factory=list)
    data_differences: list[str] = field(default_factory=list)  # the seeded tables' rows (data_differences)
    lock_problems: list[str] = field(default_factory=list)
    locks_before: list[str] = field(default_factory=list)
    locks_after: list[str] = field(default_factory=list)
    original_error: str | None = None
    rewrite_error: str | None = None
    seeded: dict[str, int] = field(default_factory=dict)
    error: str | None = None  # the proof itself could not run
    # The original cannot run at all, only because a CONCURRENTLY step sits inside a transaction block
    # (SQLSTATE 25001) or uses an enum value its own transaction added (55P04): there is no original
    # schema to compare with; the rewrite runs that very step outside the transaction, so it is
    # accepted when it runs and its locks are within budget.
    original_unrunnable: bool = False

    @property
    def accepted(self) -> bool:
        original_failed = self.original_error and not self.original_unrunnable
        return not (self.differences or self.data_differences or self.lock_problems or original_failed
                    or self.rewrite_error or self.error)

    def verdict(self) -> str:
        """One line for the reports: what was proven, or why the rewrite was not accepted."""
        if not self.accepted:
            return "; ".join(self.reasons())
        if self.original_unrunnable:
            return ("the original cannot run (CONCURRENTLY inside a transaction block); the rewrite runs, "
                    "locks within budget")
        return "same final schema and seeded data, locks within budget"

    def reasons(self) -> list[str]:
        """Why the rewrite was not accepted (empty when accepted)."""
        out = []
        if self.error:
            out.append(f"the proof could not run: {self.error}")
        if self.original_error and not self.original_unrunnable:
            out.append(f"the original revision fails on the seeded shadow: {self.original_error}")
        if self.rewrite_error:
            out.append(f"the rewritten revision fails on the seeded shadow: {self.rewrite_error}")
        out += [f"schema differs: {d}" for d in self.differences]
        out += [f"data differs: {d}" for d in self.data_differences]
        out += [f"lock over budget: {p}" for p in self.lock_problems]
        return out


def describe_locks(rev: RevisionTrace, dangerous_only: bool = True) -> list[str]:
    """One line per lock a revision took on a pre-existing table, e.g.
    ``SHARE on orders, held 1.2 ms over 1 statement(s) (scan)``."""
    out = []
    for st in rev.statements:
        for lk in st.observation.new_locks:
            if lk.kind not in TABLE_KINDS or not lk.preexisting:
                continue
            if dangerous_only and not lk.dangerous:
                continue
            under = rev.statements[lk.statement_index:lk.statement_index + max(lk.held_statements, 1)]
            extra = []
            if any(lk.relation in s.observation.rewritten for s in under):
                extra.append("rewrite")
            if any(lk.relation in s.observation.seq_scans for s in under):
                extra.append("scan")
            tail = f" ({', '.join(extra)} under it)" if extra else ""
            out.append(f"{lk.mode} on {lk.relation}, held {lk.held_ms:.1f} ms over {lk.held_statements} "
                       f"statement(s) from line {st.line}{tail}")
    return out


def lock_problems(rev: RevisionTrace, budget: LockBudget) -> list[str]:
    """Dangerous locks on pre-existing tables in ``rev`` that exceed ``budget``."""
    problems = []
    for st in rev.statements:
        for lk in st.observation.new_locks:
            if not lk.preexisting or lk.kind not in TABLE_KINDS or not lk.dangerous:
                continue
            under = rev.statements[lk.statement_index:lk.statement_index + max(lk.held_statements, 1)]
            if lk.held_ms > budget.max_held_ms:
                problems.append(f"{lk.mode} on {lk.relation} held {lk.held_ms:.1f} ms "
                                f"(budget {budget.max_held_ms:g} ms), from line {st.line}")
            if not budget.allow_rewrite and any(lk.relation in s.observation.rewritten for s in under):
                problems.append(f"{lk.relation} is rewritten while {lk.mode} is held (from line {st.line})")
            if not budget.allow_scan and any(lk.relation in s.observation.seq_scans for s in under):
                problems.append(f"{lk.relation} is scanned while {lk.mode} is held (from line {st.line})")
    return problems


@contextlib.contextmanager
def project_copy(project: Project, replace: dict[str, str] | None = None,
                 add: dict[str, str] | None = None) -> Iterator[Project]:
    """A temporary copy of ``project``'s script directory (env.py, versions) with revision files
    replaced (``replace``: original path → new source) or added (``add``: file name → source, in the
    first version location). The user's files are never written. Yields a Project for the copy."""
    tmp = Path(tempfile.mkdtemp(prefix="ag_proof_"))
    try:
        script_dir = Path(project.script.dir).resolve()
        dest = tmp / "script"
        shutil.copytree(script_dir, dest, ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
        mapping: dict[Path, Path] = {script_dir: dest}
        version_dirs = [Path(v).resolve() for v in version_locations(project.script)]
        mapped_versions = []
        for i, vdir in enumerate(version_dirs):
            try:
                target = dest / vdir.relative_to(script_dir)
            except ValueError:
                target = tmp / f"versions_{i}"
                shutil.copytree(vdir, target, ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
                mapping[vdir] = target
            mapped_versions.append(target)

        def moved(path: str) -> Path:
            p = Path(path).resolve()
            for src, dst in sorted(mapping.items(), key=lambda kv: -len(str(kv[0]))):
                with contextlib.suppress(ValueError):
                    return dst / p.relative_to(src)
            raise GuardError(f"{path} is not inside the project's script directory.", path=path)

        for path, source in (replace or {}).items():
            moved(path).write_text(source)
        for name, source in (add or {}).items():
            (mapped_versions[0] if mapped_versions else dest / "versions").joinpath(name).write_text(source)
        copy = _load_copy(project, dest, mapped_versions)
        yield copy
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def _load_copy(project: Project, script_dir: Path, version_dirs: list[Path]) -> Project:
    cfg = project.config
    copy = load_project(str(cfg.config_file_name), cfg.config_ini_section,
                        list(getattr(cfg.cmd_opts, "x", None) or []))
    copy.config.set_main_option("script_location", str(script_dir))
    if cfg.get_main_option("version_locations"):
        copy.config.set_main_option("path_separator", "os")
        copy.config.set_main_option("version_locations", os.pathsep.join(str(v) for v in version_dirs))
    loaded: list = []
    return Project(config=copy.config, script=script_directory(copy.config, loaded),
                   env_path=script_dir / "env.py", loaded=loaded)


def load_revisions(project: Project, server: ShadowServer, dbname: str) -> None:
    """Load ``project``'s revision scripts with connections redirected to ``dbname`` (they may
    connect at import time)."""
    with redirect_connections(server, dbname, project.version_dirs()):
        project.load_revisions()


def _trace(project: Project, server: ShadowServer, dbname: str, base: str | None, revision: str) \
        -> RevisionTrace:
    revs = Runner(project, server, dbname).run(from_rev=base, to_rev=revision)
    return next(r for r in revs if r.revision == revision)


def prove(project: Project, server: ShadowServer, revision: str, base: str | None, *,
          original: Project, rewritten: Project, tables: list[str] | None = None,
          budget: LockBudget = LockBudget(), seed_rows: int = DEFAULT_ROWS) -> Proof:
    """Apply ``revision`` from ``original`` and from ``rewritten`` (two copies of ``project``) on two
    scratch databases of ``server``, from the same seeded ``base`` (None: an empty database), and
    compare. ``tables`` are seeded (qualified names; default: every table at the base).
    Never raises for a failing revision: the failure is recorded in the Proof."""
    proof = Proof(server_version=server.version)
    with scratch_database(server) as db_a:
        try:
            load_revisions(original, server, db_a)
        except GuardError as exc:
            proof.error = exc.message
            return proof
        if base is not None:
            try:
                Runner(original, server, db_a).run(from_rev=base, to_rev=base)
            except GuardError as exc:
                proof.error = exc.message
                return proof
        conninfo_a = server.conninfo(db_a)
        if tables is None:
            tables = _all_tables(conninfo_a)
        proof.seeded = seed_tables(conninfo_a, tables, seed_rows)
        with scratch_database(server, template=db_a) as db_b:
            try:
                load_revisions(rewritten, server, db_b)
                start_roles = roles.state_of(server)
                before = _trace(original, server, db_a, base, revision)
                # a role the original created is global: parked, so that the rewrite's own CREATE ROLE
                # runs as on the same start state (shadow/roles.py)
                roles.restore(server, start_roles)
                after = _trace(rewritten, server, db_b, base, revision)
            except GuardError as exc:
                proof.error = exc.message
                return proof
            proof.original_error = before.error or before.skipped
            proof.original_unrunnable = bool(before.error) and any(
                st.observation.sqlstate in UNRUNNABLE_AS_WRITTEN for st in before.statements)
            proof.rewrite_error = after.error or after.skipped
            proof.locks_before = describe_locks(before)
            proof.locks_after = describe_locks(after)
            proof.lock_problems = lock_problems(after, budget)
            if not (proof.original_error or proof.rewrite_error):
                conninfo_b = server.conninfo(db_b)
                proof.differences = compare_catalogs(read_catalog(conninfo_a), read_catalog(conninfo_b))
                if not proof.differences:
                    proof.data_differences = data_differences(conninfo_a, conninfo_b, sorted(proof.seeded))
    return proof


#: types whose values an equivalent rewrite may legitimately change: the time of the transaction that
#: wrote them (``now()`` differs between the original's one transaction and a rewrite's batches)
CLOCK_TYPES = ("timestamp without time zone", "timestamp with time zone", "time without time zone",
               "time with time zone")


def data_differences(conninfo_a: str, conninfo_b: str, tables: list[str]) -> list[str]:
    """How the rows of ``tables`` differ between two databases: per table the row count, per column
    (present in both) the NULL count and a checksum of the values. A checksum difference is not
    reported for a clock type, nor for a column whose values are all distinct on both sides with the
    same count (a volatile default such as ``gen_random_uuid()`` gives every row a new value in each
    run): a rewrite may write different such values and still be the same change."""
    import psycopg
    from psycopg import sql

    def fingerprint(conn, table: str):
        if conn.execute("SELECT to_regclass(%s)", (table,)).fetchone()[0] is None:
            return None
        cols = conn.execute("SELECT attname, format_type(atttypid, atttypmod) FROM pg_attribute WHERE attrelid = "
                            "%s::regclass AND attnum > 0 AND NOT attisdropped ORDER BY attnum", (table,)).fetchall()
        parts = [sql.SQL("count(*)")]
        for name, _type in cols:
            c = sql.Identifier(name)
            parts += [sql.SQL("count({})").format(c),
                      sql.SQL("md5(string_agg({}::text, ',' ORDER BY {}::text))").format(c, c),
                      sql.SQL("count(DISTINCT {}::text)").format(c)]
        row = conn.execute(sql.SQL("SELECT {} FROM {}").format(
            sql.SQL(", ").join(parts), sql.SQL(conn.execute("SELECT %s::regclass::text", (table,)).fetchone()[0]))
        ).fetchone()
        return row[0], {name: (typ, *row[1 + 3 * i:4 + 3 * i]) for i, (name, typ) in enumerate(cols)}

    out = []
    with psycopg.connect(conninfo_a, autocommit=True) as a, psycopg.connect(conninfo_b, autocommit=True) as b:
        for table in tables:
            fa, fb = fingerprint(a, table), fingerprint(b, table)
            if fa is None or fb is None:
                continue
            if fa[0] != fb[0]:
                out.append(f"{table}: {fa[0]} rows after the original, {fb[0]} after the rewrite")
                continue
            for name, (typ, filled_a, sum_a, distinct_a) in fa[1].items():
                if name not in fb[1]:
                    continue
                _, filled_b, sum_b, distinct_b = fb[1][name]
                if filled_a != filled_b:
                    out.append(f"{table}.{name}: {filled_a} non-NULL values after the original, "
                               f"{filled_b} after the rewrite")
                elif sum_a != sum_b and typ not in CLOCK_TYPES and not (distinct_a == distinct_b == filled_a):
                    out.append(f"{table}.{name}: different values after the original and the rewrite")
    return out


def _all_tables(conninfo: str, limit: int = 50) -> list[str]:
    import psycopg

    with psycopg.connect(conninfo, autocommit=True) as conn:
        return [r[0] for r in conn.execute(
            "SELECT c.oid::regclass::text FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
            "WHERE c.relkind IN ('r', 'p') AND NOT c.relispartition AND c.relname <> 'alembic_version' "
            "AND n.nspname NOT IN ('pg_catalog', 'information_schema') AND n.nspname NOT LIKE 'pg\\_%%' "
            "ORDER BY 1 LIMIT %s", (limit,)).fetchall()]
