"""Run a project's revisions through Alembic itself on a shadow database, traced.

``command.upgrade`` runs the project's own env.py unchanged, so ``transaction_per_migration``,
``autocommit_block()``, batch ops and user helpers behave as in production. Connections are
redirected to the shadow (capture.redirect) and every statement is observed (trace.tracer).
"""

from __future__ import annotations

import contextlib
import importlib
import logging
import os
import re
import traceback
from collections.abc import Callable, Iterator
from pathlib import Path

import psycopg
from alembic import command

from ..alembic_api import down_revisions, script_reused
from ..errors import GuardError
from ..model import RevisionTrace
from ..sql.secrets import scrub_error
from ..shadow.server import ShadowServer
from ..trace.tracer import Tracer
from . import inputs
from .extensions import ExtensionShims
from .lock_wait import LockWaitWatchdog
from .origin import RevisionFiles
from . import per_revision
from .per_revision import transaction_per_revision
from .project import Project, error_from_exception, one_line
from .redirect import RawConnect, Redirect, redirect_connections

# PostgreSQL 13+ says "is not available"; older servers name the missing control file.
# PostgreSQL's message for a missing extension (≥ 13, then older servers); matched on the error
# text, not on SQL.
_MISSING_EXTENSION = re.compile(
    r'extension "([^"]+)" is not available|extension control file "[^"]*/([^"/]+)\.control"')

DRIVER_PACKAGES = {"psycopg2": "psycopg2-binary", "psycopg": "psycopg[binary]", "asyncpg": "asyncpg",
                   "pg8000": "pg8000"}


@contextlib.contextmanager
def _quiet_alembic(verbose: bool) -> Iterator[None]:
    """env.py usually calls fileConfig(), which prints Alembic's INFO lines; hide them unless verbose."""
    previous = logging.root.manager.disable
    if not verbose:
        logging.disable(logging.INFO)
    try:
        yield
    finally:
        logging.disable(previous)


@contextlib.contextmanager
def _cwd(path: Path) -> Iterator[None]:
    old = os.getcwd()
    os.chdir(path)
    # alembic.ini's prepend_sys_path is usually ".", a path relative to the cwd: the import system's
    # cached listing of "." would still be the old directory's.
    importlib.invalidate_caches()
    try:
        yield
    finally:
        os.chdir(old)
        importlib.invalidate_caches()


# drivers of other databases, as SQLAlchemy's dialects import them: a URL of another database fails
# on the missing driver before any connection, where the dialect check of capture/redirect.py would say it
_OTHER_DATABASES = {"pymysql": "MySQL", "MySQLdb": "MySQL", "mysql": "MySQL", "mariadb": "MariaDB",
                    "aiomysql": "MySQL", "asyncmy": "MySQL", "cx_Oracle": "Oracle", "oracledb": "Oracle",
                    "pyodbc": "SQL Server (ODBC)", "pymssql": "SQL Server", "aioodbc": "SQL Server (ODBC)"}


def _missing_driver(exc: BaseException) -> GuardError | None:
    name = getattr(exc, "name", None) or ""
    root = name.split(".")[0]
    if isinstance(exc, ModuleNotFoundError) and root in _OTHER_DATABASES:
        return GuardError(f"env.py connects with a {_OTHER_DATABASES[root]} driver ({root}); alembic-guard checks "
                          "PostgreSQL projects only.")
    if isinstance(exc, ModuleNotFoundError) and root in DRIVER_PACKAGES:
        return GuardError(f"the project's database driver {root!r} is not installed in this environment.",
                          hint=f"Install it (pip install {DRIVER_PACKAGES[root]}) next to alembic-guard-pg; "
                               "alembic-guard connects with the driver env.py names, to the shadow only.")
    return None


def provide_production_roles(server: ShadowServer, dbname: str, config_file: str) -> None:
    """The roles production has outside the migrations (``[tool.alembic-guard] production-roles`` of
    the project of ``config_file``) exist on the shadow before the first revision runs
    (shadow/roles.py). Raises GuardError."""
    from ..check_config import load_check_config
    from ..shadow import roles

    names = load_check_config(Path(config_file).resolve().parent).production_roles
    try:
        roles.provide(server, dbname, names)
    except psycopg.Error as exc:
        raise GuardError(f"the roles of [tool.alembic-guard] production-roles could not be created on the shadow "
                         f"PostgreSQL: {one_line(exc)}",
                         hint="Give the shadow's role CREATEROLE, or list only roles it may create.") from None


def _applied_revisions(server: ShadowServer, dbname: str) -> set[str]:
    """Revision ids recorded in any Alembic version table of the shadow database."""
    heads: set[str] = set()
    with psycopg.connect(server.conninfo(dbname), autocommit=True) as conn:
        tables = conn.execute(
            "select table_schema, table_name from information_schema.columns "
            "where column_name = 'version_num' and table_schema not in ('pg_catalog', 'information_schema')"
        ).fetchall()
        for schema, table in tables:
            q = psycopg.sql.SQL("select version_num from {}.{}").format(psycopg.sql.Identifier(schema),
                                                                         psycopg.sql.Identifier(table))
            with contextlib.suppress(psycopg.Error):
                heads.update(r[0] for r in conn.execute(q).fetchall())
    return heads



# SQLSTATEs (PostgreSQL docs, Appendix A) and classes that say the shadow server, not the revision,
# failed: a connection ended under the migration (class 08, admin / crash shutdown 57P01-57P03),
# a full disk (53100), too many connections (53300), a system I/O error (58030). Not 53200: "out of
# shared memory" is usually a revision taking more locks than max_locks_per_transaction allows, which
# fails the same way in production.
_INFRASTRUCTURE = {
    "08": "lost the migration's connection", "53100": "ran out of disk space",
    "53300": "refused more connections", "57P01": "ended the migration's connection (administrator command)",
    "57P02": "ended the migration's connection (crash shutdown)",
    "57P03": "refused the connection (starting up or shutting down)",
    "58030": "failed an I/O operation",
}


def _infrastructure_sqlstate(exc: BaseException | None) -> str | None:
    """The SQLSTATE of ``exc`` (psycopg, psycopg2, asyncpg, wrapped by SQLAlchemy or not) when it is
    one of ``_INFRASTRUCTURE``; "08006" for a connection closed under the driver (no SQLSTATE)."""
    for err in (exc, getattr(exc, "orig", None), getattr(exc, "__cause__", None)):
        if err is None:
            continue
        state = getattr(err, "sqlstate", None) or getattr(err, "pgcode", None)
        if state:
            state = str(state)
            return state if state in _INFRASTRUCTURE or state[:2] == "08" else None
        if isinstance(err, psycopg.OperationalError) and "connection" in str(err).lower() and (
                "closed" in str(err).lower() or "terminat" in str(err).lower() or "lost" in str(err).lower()):
            return "08006"
    return None


class Runner:
    """Traces the revisions of ``project`` between ``from_rev`` (exclusive) and ``to_rev``."""

    _redirect: Redirect | None = None  # the connection redirect of the last run()

    def __new__(cls, project: Project, server: ShadowServer, dbname: str, *args, **kwargs):
        # The revision scripts are imported (their top-level code runs) only inside a redirect to
        # this shadow database; a job usually loaded them already (Project.load_revisions).
        if not project.revisions_loaded:
            with redirect_connections(server, dbname, project.version_dirs()):
                project.load_revisions()
        return super().__new__(cls)

    @property
    def raw_connects(self) -> list[RawConnect]:
        """DBAPI connections project code opened itself while the revision scripts were imported
        (once per process: Project.import_connects) and during the last run() (capture.redirect):
        their statements are not traced."""
        during = list(self._redirect.raw_connects) if self._redirect else []
        return [rc for rc in self.project.import_connects if rc not in during] + during

    def __init__(self, project: Project, server: ShadowServer, dbname: str, verbose: bool = False,
                 progress: Callable[[int, int, str, str], None] | None = None, preapplied: set[str] = frozenset()):
        self.project = project
        self.progress = progress  # progress(n, total, revision id, message) as each revision starts
        self.server = server
        self.dbname = dbname
        self.verbose = verbose
        self.revisions: dict[str, RevisionTrace] = {}
        for sc in project.ordered():
            self.revisions[sc.revision] = RevisionTrace(
                revision=sc.revision, down_revision=sc.down_revision, path=sc.path, doc=sc.doc or "")
        for rev in preapplied:  # already in ``dbname`` (a cached template, alembic_guard/incremental)
            self.revisions.pop(rev, None)
        self.files = RevisionFiles(project.revision_paths())
        self.tool_errors: list[str] = []
        self.notes: list[str] = []  # things the report should say (e.g. stand-in extensions)
        self.transaction_mode = ""  # how env.py ran the revisions (trace/modes.py)
        self._watchdog: LockWaitWatchdog | None = None  # while run() runs: ends self-inflicted lock waits

    def _upgrade(self, target: str) -> None:
        self._alembic(command.upgrade, target)

    def _stamp(self, revision: str) -> None:
        with script_reused(self.project.config, self.project.script):
            command.stamp(self.project.config, revision)

    def _alembic(self, fn: Callable[..., None], target: str) -> None:
        """Run the Alembic command ``fn`` (``command.upgrade``, ``command.downgrade``) to ``target``
        through the project's env.py, on this runner's shadow database (capture/downgrade.py runs
        downgrades through it too)."""
        config = self.project.config
        with script_reused(config, self.project.script):
            self._alembic_on(fn, config, target)

    def _alembic_on(self, fn: Callable[..., None], config, target: str) -> None:
        env_source = self.project.env_path.read_text(errors="replace") if self.project.env_path.exists() else ""
        if ".attributes" in env_source:
            # env.py accepts a connection from its caller (Alembic cookbook: "Sharing a Connection");
            # give it one to the shadow, not in a transaction, so Alembic manages transactions as usual.
            from sqlalchemy import create_engine
            from sqlalchemy.pool import NullPool

            engine = create_engine(self.server.sqlalchemy_url(self.dbname), poolclass=NullPool)
            try:
                with engine.connect() as connection:
                    config.attributes["connection"] = connection
                    try:
                        fn(config, target)
                    finally:
                        config.attributes.pop("connection", None)
                        if connection.in_transaction():
                            connection.commit()
            finally:
                engine.dispose()
        else:
            fn(config, target)

    def _descendants(self, rev: str) -> set[str]:
        """Revisions that have ``rev`` among their ancestors."""
        children: dict[str, set[str]] = {}
        for sc in self.project.script.walk_revisions():
            for parent in down_revisions(sc):
                children.setdefault(parent, set()).add(sc.revision)
        out: set[str] = set()
        todo = [rev]
        while todo:
            for child in children.get(todo.pop(), ()):
                if child not in out:
                    out.add(child)
                    todo.append(child)
        return out

    def run(self, from_rev: str | None = None, to_rev: str | None = None) -> list[RevisionTrace]:
        """Apply ``from_rev`` untraced (if given), then trace up to ``to_rev`` (default: all heads).

        A revision that fails is recorded with PostgreSQL's message; then it is stamped as applied
        (after re-applying its ancestors, which a single-transaction env.py rolled back) and the run
        goes on, so one failure — a missing extension, say — does not hide the rest of the history.
        Later failures note the earlier one. Raises GuardError for a missing driver or a broken env.py.
        """
        provide_production_roles(self.server, self.dbname, self.project.config.config_file_name or ".")
        side = self.server.conninfo(self.dbname)
        tracer = Tracer(side, self.files, self.revisions, self.server.version_num)
        if self.progress is not None:
            tracer.on_revision = self._progress_hook(to_rev)
        shims = ExtensionShims()
        failed: list[str] = []
        with _cwd(Path(self.project.config.config_file_name or ".").resolve().parent), \
                _quiet_alembic(self.verbose), transaction_per_revision(), \
                redirect_connections(self.server, self.dbname, self.project.version_dirs()) as self._redirect, \
                inputs.recording([self.project.script.dir, *self.project.version_dirs()]) as recorder:
            tracer.install()
            shims.install()  # after the tracer: the trace keeps the statement as the revision wrote it
            try:
                with LockWaitWatchdog(self.server, self.dbname) as self._watchdog:
                    self._run_all(from_rev, to_rev, tracer, failed)
            except GuardError:
                raise
            except Exception as exc:  # a database error outside a revision (reading the version table)
                stopped = self._server_stopped(exc)
                if stopped is not None:
                    raise stopped from None
                raise
            finally:
                shims.remove()
                tracer.remove()
                self.notes.extend(n for n in shims.notes + per_revision.adjustments() if n not in self.notes)
                self.transaction_mode = tracer.mode
        self._note_raw_connects()
        self._note_programs(recorder.spawns)
        try:
            applied = self._ancestors_applied()
        except psycopg.Error as exc:
            raise (self._server_stopped(exc) or exc) from None
        for rev_id, rev in self.revisions.items():
            if rev_id in applied or rev.error:
                continue
            cause = next((f for f in failed if rev_id in self._descendants(f)), None)
            if cause:
                rev.skipped = f"not run: it depends on revision {cause}, which failed on the shadow"
            elif not rev.cached:
                # Alembic did not record it as applied on the shadow, yet it did not fail: whatever ran
                # did not reach the traced database, so no verdict of "safe" may rest on it
                reason = ("the shadow's version table does not show it applied after the run: what it did "
                          "did not reach the traced database")
                if reason not in rev.unseen:
                    rev.unseen.append(reason)
        if to_rev:
            wanted = {sc.revision for sc in self.project.script.revision_map.iterate_revisions(to_rev, "base")}
            for rev_id in list(self.revisions):
                if rev_id not in wanted:
                    self.revisions.pop(rev_id)
        return list(self.revisions.values())

    def _note_programs(self, spawns: list[inputs.Spawn]) -> None:
        """A program a revision started (``psql``, a shell script) may change the database where the
        trace does not look: that revision is not safe (capture/inputs.py)."""
        for sp in spawns:
            rev = self.revisions.get(self.files.revision_of(sp.filename) or "")
            if rev is None:
                continue
            reason = (f"line {sp.line} starts a program (`{sp.command}`): what it does to the database is "
                      "not traced")
            if reason not in rev.unseen:
                rev.unseen.append(reason)

    def _run_all(self, from_rev: str | None, to_rev: str | None, tracer: Tracer, failed: list[str]) -> None:
        """Apply ``from_rev`` untraced, then trace up to ``to_rev``, stepping over failed revisions."""
        if from_rev:
            tracer.enabled = False
            self._attempt(from_rev, tracer, failed, untraced=True)
            tracer.enabled = True
            for rev in self._ancestors_applied():
                self.revisions.pop(rev, None)
        target = to_rev or "heads"
        # Each failed attempt adds one failed revision, so this ends.
        for _ in range(len(self.revisions) + 1):
            if self._attempt(target, tracer, failed):
                break
            if not self._step_over(failed[-1], tracer):
                break

    def _progress_hook(self, to_rev: str | None) -> Callable[[RevisionTrace], None]:
        """The tracer's on_revision callback: ``self.progress(n, total, id, message)``, once per revision."""
        started: list[str] = []
        below: set[str] | None = None
        if to_rev:
            with contextlib.suppress(Exception):
                below = {sc.revision for sc in self.project.script.revision_map.iterate_revisions(to_rev, "base")}

        def hook(rev: RevisionTrace) -> None:
            if rev.revision in started or rev.revision not in self.revisions:
                return
            started.append(rev.revision)
            total = len(set(self.revisions) & below) if below is not None else len(self.revisions)
            message = rev.doc.splitlines()[0] if rev.doc else ""
            with contextlib.suppress(Exception):  # a display problem never breaks the trace
                self.progress(len(started), max(total, len(started)), rev.revision, message)

        return hook

    def _note_raw_connects(self) -> None:
        """Statements on a DBAPI connection the project opened itself bypass SQLAlchemy, so the
        trace cannot see them: the revision that opened it is "unknown", never "safe". One opened by
        env.py or a helper module is named in the report's notes."""
        by_path = {os.path.realpath(t.path): t for t in self.revisions.values() if t.path}
        for rc in self.raw_connects:
            where = f"{rc.path}:{rc.line}" if rc.path else "a pool's own thread"
            rev = by_path.get(os.path.realpath(rc.path)) if rc.path else None
            if rev is not None:
                reason = (f"statements on the raw {rc.driver} connection opened at line {rc.line} are not "
                          "traced (they bypass SQLAlchemy)")
                if reason not in rev.unseen:
                    rev.unseen.append(reason)
                continue
            note = (f"a raw {rc.driver} connection is opened at {where}; statements on it bypass SQLAlchemy "
                    "and are not traced (it reaches the shadow only)")
            if note not in self.notes:
                self.notes.append(note)

    def _step_over(self, rev_id: str, tracer: Tracer) -> bool:
        """Bring the shadow to "``rev_id`` applied" without running it: re-apply its ancestors
        (untraced: their traces are complete), then ``alembic stamp`` it. False if that fails."""
        tracer.frozen |= {r for r, t in self.revisions.items() if t.traced or r == rev_id}
        script = self.project.script.get_revision(rev_id)
        try:
            for parent in down_revisions(script):
                if parent not in self._ancestors_applied():
                    self._reapply(parent)
            self._stamp(rev_id)
        except Exception as exc:  # noqa: BLE001 - any failure here ends the run, reported per revision
            stopped = self._server_stopped(exc, rev_id)
            if stopped is not None:
                raise stopped from None
            self.tool_errors.append(f"could not continue after revision {rev_id} failed: {exc}")
            return False
        return True

    def _reapply(self, target: str) -> None:
        """Upgrade to ``target`` untraced. A revision that COMMITs part of its work itself (or runs
        an ``autocommit_block``) keeps that part when a later revision of the same transaction fails,
        while its version-table row is rolled back: re-running it then fails ("already exists"). So
        on failure go one revision at a time, and stamp a revision that cannot be re-applied."""
        try:
            self._upgrade(target)
            return
        except Exception:  # noqa: BLE001 - retried revision by revision below
            pass
        rmap = self.project.script.revision_map
        for sc in reversed(list(rmap.iterate_revisions(target, "base"))):
            if sc.revision in self._ancestors_applied():
                continue
            try:
                self._upgrade(sc.revision)
            except Exception:  # noqa: BLE001 - its effects are (partly) there already
                self._stamp(sc.revision)

    def _ancestors_applied(self) -> set[str]:
        heads = _applied_revisions(self.server, self.dbname)
        rmap = self.project.script.revision_map
        out: set[str] = set()
        for h in heads:
            with contextlib.suppress(Exception):
                out |= {sc.revision for sc in rmap.iterate_revisions(h, "base")}
        return out

    def _attempt(self, target: str, tracer: Tracer, failed: list[str], untraced: bool = False) -> bool:
        tracer.reset()
        try:
            self._upgrade(target)
            return True
        except GuardError:
            raise
        except Exception as exc:  # the revision (or env.py) failed; find which and where
            missing = _missing_driver(exc)
            if missing:
                raise missing from exc
            origin = self.files.from_traceback(exc.__traceback__)
            rev_id = origin[0] if origin else (tracer.last_error[0] if tracer.last_error else None)
            stopped = self._server_stopped(exc, rev_id)
            if stopped is not None:  # not the revision's fault: the server went away under it
                raise stopped from None
            waited = self._watchdog.explain() if self._watchdog is not None else None
            if waited and rev_id is None:
                raise GuardError(f"env.py could not run on the shadow: {waited}.",
                                 path=str(self.project.env_path),
                                 hint="A multi-database env.py cannot be checked yet: check one database at "
                                      "a time (for instance an -x argument that makes env.py run one "
                                      "engine).") from None
            if rev_id is None:
                err = error_from_exception(exc, "env.py failed on the shadow database")
                if "Could not parse SQLAlchemy URL" in str(exc):
                    err.hint = ("SQLAlchemy reads only URLs (postgresql+psycopg://user@host/db), not libpq "
                                "key=value strings: `alembic upgrade` fails the same way. alembic-guard's own "
                                "--shadow-url and --stats-url accept both.")
                if isinstance(exc, KeyError):
                    err.hint = ("Does env.py read an environment variable that is not set? Set it (a database "
                                "URL can be any URL: alembic-guard sends every connection to the shadow).")
                raise err from exc
            if untraced:
                raise GuardError(f"revision {rev_id} failed while applying the revisions before --from: "
                                 f"{type(exc).__name__}: {str(exc).splitlines()[0]}",
                                 path=origin[1] if origin else None, line=origin[2] if origin else None) from exc
            rev = self.revisions.get(rev_id)
            if rev is None or rev_id in failed:  # cannot make progress: stop instead of looping
                raise error_from_exception(exc, f"revision {rev_id} failed again on the shadow") from exc
            message = str(getattr(exc, "orig", None) or exc).strip().split("\n[SQL:")[0].strip()
            rev.error = waited or scrub_error(message)
            if not rev.error:  # e.g. Alembic's bare AssertionError in autocommit_block()
                frame = traceback.extract_tb(exc.__traceback__)[-1]
                rev.error = (f"{type(exc).__name__} in {os.path.basename(frame.filename)} line {frame.lineno} "
                             f"({frame.line or ''})").replace(" ()", "")
                if isinstance(exc, AssertionError) and "autocommit" in "".join(
                        f.name for f in traceback.extract_tb(exc.__traceback__)):
                    rev.error += (": Alembic cannot run autocommit_block() inside a transaction env.py opened "
                                  "itself (before context.configure()); it fails the same way in production")
            extension = _MISSING_EXTENSION.search(rev.error)
            if extension:
                name = extension.group(1) or extension.group(2)
                rev.error += (f" (the shadow server lacks extension {name}: use a shadow that has it, "
                              "e.g. --shadow local or --shadow-url)")
            earlier = [f for f in failed if f in self._ancestors_of(rev_id)]
            if earlier:
                rev.error += f" (revision {earlier[-1]} failed earlier and was stepped over; this may follow from it)"
            if origin:
                rev.error_line = origin[2]
            failed.append(rev_id)
            return False

    def _server_stopped(self, exc: BaseException | None, rev_id: str | None = None) -> GuardError | None:
        """The error for a shadow server that stopped while revisions ran (killed, the OOM killer, a
        full disk), or None while it still answers. Names the revision it stopped in, the file and
        line it had reached, the revisions traced before it, and the server log's last lines.
        A partial run is not reported as a verdict: it is an infrastructure failure (exit 2)."""
        if exc is not None and not isinstance(exc, (psycopg.Error, OSError)) and \
                not isinstance(getattr(exc, "orig", None), psycopg.Error) and "sqlalchemy" not in type(exc).__module__:
            return None  # a Python error of the revision itself, whatever the server does
        alive = self.server.alive()
        state = _infrastructure_sqlstate(exc)
        if alive and state is None:
            return None
        origin = self.files.from_traceback(exc.__traceback__) if exc is not None else None
        if rev_id is None:
            rev_id = origin[0] if origin else next(
                (r for r, t in reversed(self.revisions.items()) if t.traced), None)
        where = f" ({origin[1]}, line {origin[2]})" if origin and origin[0] == rev_id else ""
        done = [r for r, t in self.revisions.items() if t.traced and r != rev_id]
        reason = one_line(getattr(exc, "orig", None) or exc or Exception()).rstrip(".")
        log = self.server.log_tail(2)
        what = "stopped" if not alive else _INFRASTRUCTURE.get(state) or _INFRASTRUCTURE[state[:2]]
        text = (f"the shadow PostgreSQL server ({self.server.provider}) {what} during revision "
                f"{rev_id or '(before the first revision)'}{where}"
                + (f": {reason}" if reason else "") + ". "
                + (f"Revisions traced before it: {', '.join(done)}; " if done else "No revision was traced before it; ")
                + "no verdict is reported from a partial run."
                + (f" The server log ends: {log}" if log else ""))
        if alive and state == "53100":
            hint = ("Free disk space where the shadow keeps its data (the cache directory: ALEMBIC_GUARD_CACHE), "
                    "or point --shadow-url at a server with room; then run check again.")
        elif alive and state and state.startswith("57P"):
            hint = ("Another session ended the connection (an administrator's pg_terminate_backend, a "
                    "watchdog, a restart); run check again.")
        elif alive:
            hint = ("The shadow server is short of a resource or lost the connection; run check again once "
                    "that is fixed.")
        else:
            hint = ("A server that stops by itself was usually killed (the OOM killer: see dmesg) or ran out "
                    "of disk space; run check again once that is fixed.")
        return GuardError(text, hint=hint)

    def _ancestors_of(self, rev_id: str) -> set[str]:
        rmap = self.project.script.revision_map
        return {sc.revision for sc in rmap.iterate_revisions(rev_id, "base")} - {rev_id}
