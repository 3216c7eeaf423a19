"""Send every database connection the process opens to the shadow database.

The project's env.py and revisions run unchanged: whatever URL they find (``sqlalchemy.url``, an
environment variable, their own settings module), the connection reaches the shadow database, so the
user's real database is never contacted. Two layers do it while :func:`redirect_connections` is active:

* SQLAlchemy's ``do_connect`` event rewrites the dialect's connect arguments just before the DBAPI
  ``connect()`` call (every Engine, sync or async).
* The drivers' own connect entry points are wrapped: ``psycopg.connect`` /
  ``psycopg.Connection.connect`` / ``psycopg.AsyncConnection.connect``, ``psycopg2.connect``,
  ``asyncpg.connect`` / ``asyncpg.create_pool`` and ``pg8000.connect`` (when installed). That covers
  raw DBAPI connections opened by env.py or revision code, and ``create_engine(creator=...)``, whose
  custom creator bypasses ``do_connect``. Destination arguments (host, port, dbname, user, password,
  service, SSL files, ...) are replaced by the shadow's; harmless options (``application_name``,
  ``options``, timeouts, ``autocommit``, factories) are kept. Arguments that cannot be read stop the
  run with a GuardError naming the file and line.

Raw connections opened by project code are recorded (``Redirect.raw_connects``): the tracer only sees
statements run through SQLAlchemy, so what those connections run is not traced. alembic_guard's own
connections (lock reader, catalog reads, scratch databases, on this or another shadow server)
pass through unchanged and are not recorded.

Redirects nest; the innermost one decides where connections go. The wrappers are installed when the
first redirect starts and the originals restored when the last one ends, also on errors.
"""

from __future__ import annotations

import contextlib
import functools
import importlib
import importlib.util
import inspect
import os
import sys
import sysconfig
import threading
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from types import FrameType
from typing import Any

from sqlalchemy import event
from sqlalchemy.engine import Engine

from ..errors import GuardError
from ..shadow.server import ShadowServer

# Connect arguments (SQLAlchemy cparams) that change behaviour but not the destination; everything
# else is dropped.
_KEEP = {"options", "server_settings", "application_name"}

# libpq parameters kept from a raw psycopg / psycopg2 connect; everything else (host, hostaddr, port,
# dbname, user, password, passfile, service, ssl*, target_session_attrs, ...) is replaced or dropped.
_KEEP_LIBPQ = {"application_name", "fallback_application_name", "options", "connect_timeout", "client_encoding",
               "keepalives", "keepalives_idle", "keepalives_interval", "keepalives_count", "tcp_user_timeout"}
# psycopg 3 connect() arguments that are not libpq parameters.
_PSYCOPG_OPTS = {"autocommit", "prepare_threshold", "context", "row_factory", "cursor_factory"}
# asyncpg connect() / create_pool() arguments that name or authenticate the destination.
_ASYNCPG_DEST = {"dsn", "host", "port", "user", "password", "passfile", "database", "ssl", "direct_tls",
                 "target_session_attrs", "krbsrvname", "gsslib", "service", "servicefile"}
# pg8000 connect() arguments that name or authenticate the destination.
_PG8000_DEST = {"user", "host", "database", "port", "password", "source_address", "unix_sock", "ssl_context",
                "sock"}


def connect_params(server: ShadowServer, dbname: str, driver: str) -> dict[str, Any]:
    """Keyword arguments for ``driver``'s connect() that reach ``dbname`` on ``server``."""
    p = server.params(dbname)
    if driver == "asyncpg":
        p["database"] = p.pop("dbname")
    elif driver == "pg8000":
        p["database"] = p.pop("dbname")
        if p["host"].startswith("/"):
            p["unix_sock"] = f"{p.pop('host')}/.s.PGSQL.{p.pop('port')}"
    return p


@dataclass
class RawConnect:
    """A DBAPI connection project code opened itself (not through an Engine's own dialect).

    ``driver``: ``psycopg``, ``psycopg2``, ``asyncpg`` or ``pg8000``. ``path``/``line``: the innermost
    project frame that opened it (outside site-packages, the standard library, Alembic, SQLAlchemy and
    alembic_guard), None when there is none (a pool's background thread). ``revision_script``: that
    file is one of the project's revision scripts (inside a version location)."""

    driver: str
    path: str | None
    line: int | None
    revision_script: bool = False


@dataclass(eq=False)
class Redirect:
    """One active redirect: where connections go, and the raw connections seen meanwhile."""

    server: ShadowServer
    # the database, or what creates it at the first connection (shadow/scratch.py LazyScratch)
    target: str | Callable[[], str]
    versions: tuple[Path, ...] = ()
    raw_connects: list[RawConnect] = field(default_factory=list)

    @property
    def dbname(self) -> str:
        return self.target if isinstance(self.target, str) else self.target()

    def is_revision_script(self, path: str) -> bool:
        p = Path(path)
        return any(p.is_relative_to(v) for v in self.versions)

    def on_shadow(self, host: Any, port: Any) -> bool:
        """``host``/``port`` are the shadow server's (any of its databases is throwaway)."""
        return host is not None and str(host) == str(self.server.host) and str(port) == str(self.server.port)


_LOCK = threading.RLock()
_STACK: list[Redirect] = []
_RESTORE: list[Callable[[], None]] = []


def active() -> Redirect | None:
    """The innermost active redirect, or None."""
    with _LOCK:
        return _STACK[-1] if _STACK else None


@contextlib.contextmanager
def redirect_connections(server: ShadowServer, dbname: str | Callable[[], str], versions: Iterable[str | Path] = ()) \
        -> Iterator[Redirect]:
    """While active, every connection (Engine or raw driver connect) reaches ``dbname`` on ``server``
    (a callable: called at the first connection, for the database's name).

    ``versions``: the project's version directories, to tell revision scripts from other project code
    in ``raw_connects``. Yields the Redirect; its ``raw_connects`` fill in as the run goes."""
    redirect = Redirect(server, dbname, tuple(Path(v).resolve() for v in versions))
    with _LOCK:
        if not _STACK:
            _install()
        _STACK.append(redirect)
    try:
        yield redirect
    finally:
        with _LOCK:
            _STACK.remove(redirect)
            if not _STACK:
                _uninstall()


# -- SQLAlchemy -----------------------------------------------------------------------------------

def _do_connect(dialect, conn_rec, cargs, cparams):
    redirect = active()
    if redirect is None:
        return
    if dialect.name != "postgresql":
        raise GuardError(f"env.py connects with the {dialect.name} dialect; alembic-guard checks "
                         "PostgreSQL projects only.")
    keep = {k: v for k, v in cparams.items() if k in _KEEP}
    cargs.clear()
    cparams.clear()
    cparams.update(keep)
    cparams.update(connect_params(redirect.server, redirect.dbname, dialect.driver))


# -- where a connect comes from -------------------------------------------------------------------

def _norm(path: str) -> str:
    return os.path.normcase(os.path.abspath(path))


_HERE = _norm(__file__)
_GUARD_ROOT = _norm(str(Path(__file__).resolve().parents[1]))
_GUARD_OPS = os.path.join(_GUARD_ROOT, "ops")
_DRIVER_ROOTS: dict[str, str] = {}  # package root → driver name, filled by _install


@functools.lru_cache(maxsize=1)
def _library_roots() -> tuple[str, ...]:
    import alembic
    import sqlalchemy

    roots = {sysconfig.get_paths()[k] for k in ("stdlib", "platstdlib") if sysconfig.get_paths().get(k)}
    roots |= {os.path.dirname(m.__file__) for m in (alembic, sqlalchemy) if m.__file__}
    return tuple(sorted(_norm(r) for r in roots))


@functools.lru_cache(maxsize=1)
def _sqlalchemy_root() -> str:
    import sqlalchemy

    return _norm(os.path.dirname(sqlalchemy.__file__ or ""))


def _under(path: str, root: str) -> bool:
    return path == root or path.startswith(root.rstrip(os.sep) + os.sep)


def _kind(filename: str) -> str:
    """``guard``, ``sqlalchemy``, ``driver``, ``library`` or ``project`` for a frame's file."""
    if filename.startswith("<"):
        return "library"
    path = _norm(filename)
    if _under(path, _GUARD_ROOT):
        # alembic_guard.ops runs inside revisions, on their connection: like SQLAlchemy's, its
        # connects must already go to the shadow
        return "sqlalchemy" if _under(path, _GUARD_OPS) else "guard"
    if any(_under(path, root) for root in _DRIVER_ROOTS):
        return "driver"
    if _under(path, _sqlalchemy_root()):
        return "sqlalchemy"
    parts = path.split(os.sep)
    if "site-packages" in parts or "dist-packages" in parts or any(_under(path, r) for r in _library_roots()):
        return "library"
    return "project"


@dataclass
class _Caller:
    kind: str  # kind of the first frame outside the driver (and this module)
    via_driver: bool  # the driver called itself (e.g. asyncpg's pool), not project code directly
    frame: FrameType | None  # innermost project frame, if any

    @property
    def where(self) -> tuple[str | None, int | None]:
        return (self.frame.f_code.co_filename, self.frame.f_lineno) if self.frame else (None, None)


def _caller() -> _Caller:
    frame = sys._getframe(1)
    while frame is not None and _norm(frame.f_code.co_filename) == _HERE:
        frame = frame.f_back
    via_driver = False
    while frame is not None and _kind(frame.f_code.co_filename) == "driver":
        via_driver = True
        frame = frame.f_back
    kind = _kind(frame.f_code.co_filename) if frame is not None else "library"
    project = frame
    while project is not None and _kind(project.f_code.co_filename) != "project":
        project = project.f_back
    return _Caller(kind, via_driver, project)


def _refuse(caller: _Caller, driver: str, exc: BaseException) -> GuardError:
    path, line = caller.where
    return GuardError(f"a {driver} connection is opened here with connection arguments alembic-guard cannot "
                      f"read ({type(exc).__name__}: {exc}), so it cannot be sent to the shadow database "
                      "instead; the check stops rather than risk contacting the real database.",
                      path=path, line=line,
                      hint="Pass a libpq conninfo string or URL (any host: alembic-guard replaces it).")


def _route(driver: str, on_shadow: Callable[[Redirect], bool], skip_record: bool = False) \
        -> tuple[Redirect, bool, _Caller] | None:
    """Decide for one connect: None (no redirect active: leave it alone), else the redirect, whether
    to rewrite the arguments, and the caller. Records the connect when project code opened it."""
    redirect = active()
    if redirect is None:
        return None
    caller = _caller()
    if caller.kind == "guard" and not caller.via_driver:
        # alembic_guard's own connection: to a shadow server (this one, or another one it started,
        # e.g. for a proof); the only other server it contacts is --stats-url, never in a redirect
        return redirect, False, caller
    try:
        already = on_shadow(redirect)
    except Exception:  # noqa: BLE001 - unreadable arguments: rewriting decides (and refuses)
        already = False
    if caller.kind == "sqlalchemy" and not caller.via_driver and already:
        # an Engine's dialect.connect, after do_connect
        return redirect, False, caller
    if not (skip_record and caller.via_driver):
        path, line = caller.where
        redirect.raw_connects.append(RawConnect(driver, path, line,
                                                bool(path) and redirect.is_revision_script(path)))
    return redirect, True, caller


# -- the drivers ----------------------------------------------------------------------------------

def _libpq_params(conninfo: Any, kwargs: dict[str, Any]) -> dict[str, Any]:
    from psycopg.conninfo import conninfo_to_dict

    if isinstance(conninfo, bytes):
        conninfo = conninfo.decode()
    return conninfo_to_dict(conninfo or "", **{k: v for k, v in kwargs.items() if v is not None})


def _libpq_target(redirect: Redirect, params: dict[str, Any]) -> dict[str, Any]:
    out = {k: v for k, v in params.items() if k in _KEEP_LIBPQ}
    out.update(redirect.server.params(redirect.dbname))
    return out


def _libpq_on_shadow(conninfo: Any, kwargs: dict[str, Any]) -> Callable[[Redirect], bool]:
    def check(redirect: Redirect) -> bool:
        p = _libpq_params(conninfo, kwargs)
        return not p.get("hostaddr") and redirect.on_shadow(p.get("host"), p.get("port"))
    return check


def _wrap_psycopg_classmethod(cls: type, driver: str) -> None:
    original = cls.__dict__["connect"]
    func = original.__func__

    def connect(klass, conninfo="", **kwargs):
        opts = {k: v for k, v in kwargs.items() if k in _PSYCOPG_OPTS}
        libpq = {k: v for k, v in kwargs.items() if k not in _PSYCOPG_OPTS}
        route = _route(driver, _libpq_on_shadow(conninfo, libpq))
        if route is None or not route[1]:
            return func(klass, conninfo, **kwargs)
        redirect, _, caller = route
        try:
            params = _libpq_target(redirect, _libpq_params(conninfo, libpq))
        except Exception as exc:
            raise _refuse(caller, driver, exc) from exc
        return func(klass, "", **opts, **params)

    connect.__doc__ = func.__doc__
    connect.__wrapped__ = func
    cls.connect = classmethod(connect)
    _RESTORE.append(lambda: setattr(cls, "connect", original))


def _wrap_function(module: Any, name: str, wrapper: Callable[[Callable[..., Any]], Callable[..., Any]]) -> None:
    original = getattr(module, name, None)
    if original is None:
        return
    new = wrapper(original)
    new.__doc__ = getattr(original, "__doc__", None)
    new.__wrapped__ = original
    setattr(module, name, new)
    _RESTORE.append(lambda: setattr(module, name, original))


def _psycopg2_connect(original):
    def connect(dsn=None, connection_factory=None, cursor_factory=None, **kwargs):
        opts = {k: kwargs[k] for k in ("async", "async_") if k in kwargs}
        libpq = {k: v for k, v in kwargs.items() if k not in opts}
        route = _route("psycopg2", _libpq_on_shadow(dsn, libpq))
        if route is None or not route[1]:
            return original(dsn, connection_factory, cursor_factory, **kwargs)
        redirect, _, caller = route
        try:
            params = _libpq_target(redirect, _libpq_params(dsn, libpq))
        except Exception as exc:
            raise _refuse(caller, "psycopg2", exc) from exc
        return original(None, connection_factory, cursor_factory, **opts, **params)
    return connect


def _asyncpg_wrapper(name: str):
    # asyncpg's pool connects through asyncpg.connection.connect from its own tasks: those are
    # recorded once, at create_pool, not per pooled connection.
    def wrap(original):
        def connect(dsn=None, **kwargs):
            def on_shadow(redirect: Redirect) -> bool:
                return dsn is None and redirect.on_shadow(kwargs.get("host"), kwargs.get("port"))
            route = _route("asyncpg", on_shadow, skip_record=True)
            if route is None or not route[1]:
                return original(dsn, **kwargs)
            redirect = route[0]
            new = {k: v for k, v in kwargs.items() if k not in _ASYNCPG_DEST}
            new.update(connect_params(redirect.server, redirect.dbname, "asyncpg"))
            return original(None, **new)
        connect.__name__ = name
        return connect
    return wrap


def _pg8000_connect(original):
    signature = inspect.signature(original)
    var_kw = next((p.name for p in signature.parameters.values() if p.kind is inspect.Parameter.VAR_KEYWORD), None)

    def connect(*args, **kwargs):
        try:
            given = dict(signature.bind(*args, **kwargs).arguments)
            error = None
        except TypeError as exc:
            given, error = {}, exc
        if var_kw:
            given.update(given.pop(var_kw, None) or {})

        def on_shadow(redirect: Redirect) -> bool:
            if error is not None:
                return False
            if given.get("unix_sock"):
                return str(given["unix_sock"]) == f"{redirect.server.host}/.s.PGSQL.{redirect.server.port}"
            return redirect.on_shadow(given.get("host", "localhost"), given.get("port", 5432))

        route = _route("pg8000", on_shadow)
        if route is None or not route[1]:
            return original(*args, **kwargs)
        redirect, _, caller = route
        if error is not None:
            raise _refuse(caller, "pg8000", error) from error
        new = {k: v for k, v in given.items() if k not in _PG8000_DEST}
        new.update(connect_params(redirect.server, redirect.dbname, "pg8000"))
        return original(**new)
    return connect


def _import(name: str) -> Any | None:
    """The driver module ``name`` if installed (imported now, so that env.py's ``from psycopg2 import
    connect`` finds the wrapper), else None."""
    try:
        if importlib.util.find_spec(name) is None:
            return None
        return importlib.import_module(name)
    except Exception:  # noqa: BLE001 - a broken driver install: the project cannot use it either
        return None


def _install() -> None:
    event.listen(Engine, "do_connect", _do_connect)
    _RESTORE.append(lambda: event.remove(Engine, "do_connect", _do_connect))
    try:
        psycopg = _import("psycopg")
        if psycopg is not None:
            _DRIVER_ROOTS[_norm(os.path.dirname(psycopg.__file__))] = "psycopg"
            _wrap_psycopg_classmethod(psycopg.Connection, "psycopg")
            _wrap_psycopg_classmethod(psycopg.AsyncConnection, "psycopg")
            original = psycopg.connect
            psycopg.connect = psycopg.Connection.connect
            _RESTORE.append(lambda: setattr(psycopg, "connect", original))
        psycopg2 = _import("psycopg2")
        if psycopg2 is not None:
            _DRIVER_ROOTS[_norm(os.path.dirname(psycopg2.__file__))] = "psycopg2"
            _wrap_function(psycopg2, "connect", _psycopg2_connect)
        asyncpg = _import("asyncpg")
        if asyncpg is not None:
            _DRIVER_ROOTS[_norm(os.path.dirname(asyncpg.__file__))] = "asyncpg"
            _wrap_function(asyncpg, "connect", _asyncpg_wrapper("connect"))
            _wrap_function(asyncpg.connection, "connect", _asyncpg_wrapper("connect"))
            _wrap_function(asyncpg, "create_pool", _asyncpg_wrapper("create_pool"))
            _wrap_function(asyncpg.pool, "create_pool", _asyncpg_wrapper("create_pool"))
        pg8000 = _import("pg8000")
        if pg8000 is not None:
            _DRIVER_ROOTS[_norm(os.path.dirname(pg8000.__file__))] = "pg8000"
            for mod in {pg8000, sys.modules.get("pg8000.legacy"), sys.modules.get("pg8000.dbapi")} - {None}:
                _wrap_function(mod, "connect", _pg8000_connect)
    except BaseException:
        _uninstall()
        raise


def _uninstall() -> None:
    while _RESTORE:
        with contextlib.suppress(Exception):
            _RESTORE.pop()()
