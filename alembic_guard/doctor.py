"""``alembic-guard doctor``: env.py patterns that silently break migration safety.

env.py is read as Python (``ast``), never run; SQL in its string constants is read with pglast. Each
finding names the env.py line and shows the corrected code. The patterns:

- ``statement-before-configure``: SQL run on the migration connection before ``context.configure()``
  (an advisory lock, a SET). The connection is then already in a transaction, so Alembic treats it as
  external: ``transaction_per_migration`` is ignored and ``autocommit_block()`` fails (Alembic's
  ``MigrationContext`` only manages a transaction it began itself).
- ``advisory-lock-idle-in-transaction``: ``pg_advisory_lock()`` through SQLAlchemy 2.x, which begins
  a transaction that then sits "idle in transaction" for the whole upgrade; every CREATE INDEX
  CONCURRENTLY waits for all transactions older than itself, so it waits for that one until the
  upgrade ends — a self-deadlock ("Building Indexes Concurrently", CREATE INDEX docs).
- ``autocommit-without-transaction-per-migration``: revisions use ``autocommit_block()`` while
  ``transaction_per_migration`` is off: the block commits the whole upgrade's transaction so far.
- ``no-lock-timeout``: env.py sets no ``lock_timeout``: a DDL statement that waits for its lock
  queues every later query of the table behind it ("Explicit Locking", lock queue).
- ``async-without-run-sync``: an async engine whose migrations do not run through
  ``connection.run_sync()`` (Alembic's async recipe).
"""

from __future__ import annotations

import ast
from dataclasses import dataclass
from pathlib import Path

from pglast import ast as pg_ast
from pglast.visitors import Visitor

from .sql.parse import parse_all


@dataclass
class EnvFinding:
    """One pattern found in env.py: ``code`` is the corrected code to put there."""

    id: str
    path: str
    line: int
    message: str
    code: str

    def text(self) -> str:
        return f"{self.path}:{self.line}: [{self.id}] {self.message}\n" + "\n".join(
            "    " + ln for ln in self.code.splitlines())


def _strings(node: ast.AST) -> list[str]:
    return [n.value for n in ast.walk(node) if isinstance(n, ast.Constant) and isinstance(n.value, str)]


def _sql_functions(text: str) -> set[str]:
    names: set[str] = set()

    class Calls(Visitor):
        def visit_FuncCall(self, ancestors, node):  # noqa: N802
            names.add(node.funcname[-1].sval.lower())

    for stmt in parse_all(text) or ():
        Calls()(stmt)
    return names


def _is_sql_setting(text: str, name: str) -> bool:
    """``text`` is SQL that sets ``name`` (SET / SET LOCAL / set_config()), or a libpq
    ``options`` string ``-c name=…``."""
    found = False

    class SetConfig(Visitor):
        def visit_FuncCall(self, ancestors, node):  # noqa: N802
            nonlocal found
            if node.funcname[-1].sval.lower() == "set_config" and node.args:
                first = node.args[0]
                found = found or getattr(getattr(first, "val", None), "sval", None) == name

    for stmt in parse_all(text) or ():
        if isinstance(stmt, pg_ast.VariableSetStmt) and stmt.name == name:
            return True
        SetConfig()(stmt)
    if found:
        return True
    # not SQL: a libpq ``options`` value (connect_args={"options": "-c lock_timeout=2s"})
    return name in _libpq_options(text)


def _libpq_options(text: str) -> set[str]:
    """The settings a libpq ``options`` string sets (``-c name=value`` or ``-cname=value``)."""
    import shlex

    try:
        tokens = shlex.split(text)
    except ValueError:
        return set()
    out = set()
    for i, tok in enumerate(tokens):
        value = tokens[i + 1] if tok == "-c" and i + 1 < len(tokens) else tok[2:] if tok.startswith("-c") else ""
        if "=" in value:
            out.add(value.split("=", 1)[0].strip())
    return out


def _call_name(call: ast.Call) -> str:
    f = call.func
    parts = []
    while isinstance(f, ast.Attribute):
        parts.append(f.attr)
        f = f.value
    if isinstance(f, ast.Name):
        parts.append(f.id)
    return ".".join(reversed(parts))


def _executes_sql(call: ast.Call) -> bool:
    return _call_name(call).split(".")[-1] in ("execute", "exec_driver_sql")


def diagnose(env_path: str | Path, revision_files: list[Path] | None = None) -> list[EnvFinding]:
    """The findings for one env.py (and the project's revision files, for the autocommit check).
    A file that does not parse gives no finding (``check`` reports it)."""
    path = str(env_path)
    try:
        tree = ast.parse(Path(path).read_text())
    except (OSError, SyntaxError, ValueError):
        return []
    calls = [n for n in ast.walk(tree) if isinstance(n, ast.Call)]
    configures = [c for c in calls if _call_name(c).endswith("context.configure") or _call_name(c) == "configure"]
    out: list[EnvFinding] = []
    first_configure = min((c.lineno for c in configures), default=None)

    for call in calls:
        if not _executes_sql(call):
            continue
        texts = _strings(call)
        functions = set().union(*(_sql_functions(t) for t in texts)) if texts else set()
        if "pg_advisory_lock" in functions:
            out.append(EnvFinding(
                "advisory-lock-idle-in-transaction", path, call.lineno,
                "pg_advisory_lock() through SQLAlchemy begins a transaction that stays idle in transaction "
                "for the whole upgrade: every CREATE INDEX CONCURRENTLY then waits for it, forever.",
                "# take the lock on a connection of its own in AUTOCOMMIT, or a transaction-scoped one:\n"
                "lock_conn = connectable.connect().execution_options(isolation_level=\"AUTOCOMMIT\")\n"
                "lock_conn.exec_driver_sql(\"SELECT pg_advisory_lock(4242)\")  # released when lock_conn closes"))
        # a commit() before configure() ends that transaction (the cookbook's multi-tenant recipe:
        # SET search_path, commit, configure): Alembic then begins its own
        committed = first_configure is not None and any(
            _call_name(c).endswith(".commit") and call.lineno < c.lineno < first_configure for c in calls)
        if first_configure is not None and call.lineno < first_configure and texts and not committed:
            out.append(EnvFinding(
                "statement-before-configure", path, call.lineno,
                "SQL runs on the connection before context.configure(): Alembic then treats its transaction as "
                "external, ignores transaction_per_migration and autocommit_block() fails.",
                "context.configure(connection=connection, target_metadata=target_metadata,\n"
                "                  transaction_per_migration=True)\n"
                "with context.begin_transaction():\n"
                "    # run the SET / advisory lock here, inside Alembic's transaction\n"
                "    context.run_migrations()"))

    per_migration = any(kw.arg == "transaction_per_migration" and isinstance(kw.value, ast.Constant)
                        and kw.value.value is True for c in configures for kw in c.keywords)
    if configures and not per_migration and _uses_autocommit_block(revision_files or []):
        c = configures[0]
        out.append(EnvFinding(
            "autocommit-without-transaction-per-migration", path, c.lineno,
            "revisions use autocommit_block() but transaction_per_migration is off: each block commits the "
            "upgrade's whole transaction so far, so a later failure leaves earlier revisions half-applied.",
            "context.configure(..., transaction_per_migration=True)"))

    strings = [s for s in _strings(tree)]
    if configures and not any(_is_sql_setting(s, "lock_timeout") for s in strings) \
            and not any(isinstance(n, ast.Name) and n.id == "lock_timeout" for n in ast.walk(tree)):
        c = configures[0]
        out.append(EnvFinding(
            "no-lock-timeout", path, c.lineno,
            "env.py sets no lock_timeout: a DDL statement waiting for its lock queues every later query on the "
            "table behind it, for as long as it waits.",
            "with context.begin_transaction():\n"
            "    context.execute(\"SET lock_timeout = '2s'\")  # per transaction; or connect_args="
            "{\"options\": \"-c lock_timeout=2s\"}\n"
            "    context.run_migrations()"))

    is_async = any(_call_name(c).split(".")[-1] in ("async_engine_from_config", "create_async_engine") for c in calls)
    if is_async and not any(_call_name(c).endswith("run_sync") for c in calls):
        line = next(c.lineno for c in calls
                    if _call_name(c).split(".")[-1] in ("async_engine_from_config", "create_async_engine"))
        out.append(EnvFinding(
            "async-without-run-sync", path, line,
            "an async engine whose migrations do not run through connection.run_sync(): Alembic's "
            "MigrationContext is synchronous.",
            "async with connectable.connect() as connection:\n"
            "    await connection.run_sync(do_run_migrations)  # do_run_migrations calls context.configure(...)"))
    return sorted(out, key=lambda f: f.line)


def _uses_autocommit_block(files: list[Path]) -> bool:
    for p in files:
        try:
            tree = ast.parse(Path(p).read_text())
        except (OSError, SyntaxError, ValueError):
            continue
        if any(isinstance(n, ast.Attribute) and n.attr == "autocommit_block" for n in ast.walk(tree)):
            return True
    return False


def diagnose_project(config_file: str, section: str = "alembic") -> list[EnvFinding]:
    """``diagnose`` for the project of ``config_file`` (env.py and its revision files). Raises
    GuardError for a missing or broken config."""
    from .capture.project import load_project

    project = load_project(config_file, section)
    files = [p for d in project.version_dirs() for p in sorted(Path(d).rglob("*.py"))]
    return diagnose(project.env_path, files)
