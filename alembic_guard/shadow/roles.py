"""Roles a migration creates in the shadow: global to the server, not to the run's database.

``CREATE ROLE`` makes a cluster-wide object ("Database Roles" in the PostgreSQL docs: "database
roles are global across a database cluster installation (and not per individual database)"). A
revision's role therefore outlives the scratch database it ran in and is seen from every other
database: once a check has created ``app_reader``, the next check that runs the same ``CREATE ROLE
app_reader`` from an earlier state (another project, an edited older revision, ``--no-cache``, the
downgrade check's replay) would fail with "role already exists" although production never had that
role. That is a false error, not a finding.

On alembic_guard's own cluster (``cluster``, ``local``, ``embedded`` providers: one run at a time
holds the warm cluster, a concurrent run gets a private copy of the pristine template, see
cluster.py) every database a run starts from gets the roles its state had, and only those:

* a database created from ``template0`` starts with no role a migration made;
* a clone of a template database starts with the roles its entry recorded (``Store`` heads,
  ``"roles"``: name → oid), each under its own name again.

The other roles are not dropped: a template database may own objects or privileges granted to them
(``DROP ROLE`` refuses while any database depends on a role). They are *parked*: renamed to
``agparked_<oid>``. Privileges and ownership are kept by oid, so a template that needs a parked role
is complete again once the role has its name back. A user-given server (``--shadow-url``) is never
rearranged: its roles are the user's; only the roles a run created there are dropped when it stops
(when nothing depends on them any more), so that the next check does not find them.

The same holds for a setting a migration gives every database of the cluster (``ALTER ROLE
CURRENT_USER SET statement_timeout …`` without ``IN DATABASE``; on the shadow the current user is
alembic_guard's superuser) or the server (``ALTER SYSTEM``): it is reset when a database is arranged,
so it never reaches a later run.

Roles below ``FirstNormalObjectId`` (16384, ``src/include/access/transam.h``) are initdb's: the
bootstrap superuser (oid 10) and the predefined ``pg_*`` roles; they are never touched.
"""

from __future__ import annotations

import contextlib

import psycopg
from psycopg import sql

from .server import ShadowServer

FIRST_NORMAL_OID = 16384
PARKED_PREFIX = "agparked_"
# the providers whose server runs on a data directory alembic_guard made and no other run uses
OWN_PROVIDERS = ("cluster", "local", "embedded")


def owned(server: ShadowServer) -> bool:
    """Whether ``server`` is alembic_guard's own cluster, whose roles this module may rename."""
    return server.provider in OWN_PROVIDERS


def made(conn: psycopg.Connection) -> dict[int, str]:
    """oid → name of every role not made by initdb (parked ones included)."""
    rows = conn.execute("select oid::int8, rolname from pg_catalog.pg_roles where oid >= %s",
                        (FIRST_NORMAL_OID,)).fetchall()
    return {oid: name for oid, name in rows}


def active(conn: psycopg.Connection) -> dict[str, int]:
    """name → oid of the roles a migration made that are not parked: those the current state has."""
    return {name: oid for oid, name in made(conn).items() if name != parked_name(oid)}


def parked_name(oid: int) -> str:
    """The name a role of ``oid`` is parked under (unique: one oid, one role)."""
    return f"{PARKED_PREFIX}{oid}"


def missing(conn: psycopg.Connection, needed: dict[str, int]) -> list[str]:
    """The names in ``needed`` (name → oid) whose role is gone from the server (dropped since)."""
    present = made(conn)
    return sorted(name for name, oid in needed.items() if oid not in present)


def arrange(conn: psycopg.Connection, needed: dict[str, int]) -> None:
    """Give the server exactly the roles ``needed`` (name → oid) under their names and park every
    other role a migration made; a needed role that no longer exists is left out (:func:`missing`
    says which). ``conn``: a superuser connection in autocommit. Raises psycopg.Error."""
    _reset_global_settings(conn)
    present = made(conn)
    wanted = {oid: name for name, oid in needed.items() if oid in present}

    def rename(old: str, new: str) -> None:
        conn.execute(sql.SQL("ALTER ROLE {} RENAME TO {}").format(sql.Identifier(old), sql.Identifier(new)))

    # park first, so that every needed name is free before a role takes it back
    for oid, name in present.items():
        if oid not in wanted and name != parked_name(oid):
            rename(name, parked_name(oid))
            present[oid] = parked_name(oid)
    for oid, name in wanted.items():
        if present[oid] != name:
            rename(present[oid], name)


def _reset_global_settings(conn: psycopg.Connection) -> None:
    """Undo a migration's ``ALTER ROLE CURRENT_USER SET …`` or ``ALTER ROLE ALL SET …`` without ``IN
    DATABASE``: such a setting is stored for every database (``pg_db_role_setting`` with
    ``setdatabase`` 0), so on the shadow's own superuser it would reach every later run (a
    ``statement_timeout``, a ``search_path``). Per-database settings go with their database. This
    session already got them: set back first, so that they cannot stop the queries below."""
    # (not SET … TO DEFAULT: a session's default is the role's setting)
    conn.execute("SET statement_timeout = 0; SET lock_timeout = 0; SET idle_in_transaction_session_timeout = 0; "
                 "SET default_transaction_read_only = off")
    rows = conn.execute("select setrole::int8 from pg_catalog.pg_db_role_setting where setdatabase = 0 "
                        "and setrole in (0, (select oid from pg_catalog.pg_roles where rolname = current_user))"
                        ).fetchall()
    for (role,) in rows:
        conn.execute("ALTER ROLE ALL RESET ALL" if role == 0 else "ALTER ROLE CURRENT_USER RESET ALL")
    # ALTER SYSTEM writes postgresql.auto.conf in the (kept) data directory: the next start would apply
    # it, a server-wide lock_timeout would then pass for the revisions' own ("ALTER SYSTEM" in the docs)
    if conn.execute("select exists (select from pg_catalog.pg_file_settings "
                    "where sourcefile like '%%postgresql.auto.conf')").fetchone()[0]:
        conn.execute("ALTER SYSTEM RESET ALL")
        conn.execute("select pg_catalog.pg_reload_conf()")


def arrange_on(server: ShadowServer, conn: psycopg.Connection, needed: dict[str, int]) -> None:
    """``arrange`` when ``server`` is alembic_guard's own cluster; nothing on any other server."""
    if owned(server):
        arrange(conn, needed)


def state_of(server: ShadowServer) -> dict[str, int]:
    """The roles (name → oid) the server's current state has; {} on a server not alembic_guard's own.
    Raises psycopg.Error."""
    if not owned(server):
        return {}
    with psycopg.connect(server.conninfo(server.admin_db), autocommit=True, connect_timeout=10) as conn:
        return active(conn)


def restore(server: ShadowServer, state: dict[str, int]) -> None:
    """Bring back the roles of ``state`` (:func:`state_of`), parking the ones made since: on
    alembic_guard's own cluster only. Raises psycopg.Error."""
    if owned(server):
        with psycopg.connect(server.conninfo(server.admin_db), autocommit=True, connect_timeout=10) as conn:
            arrange(conn, state)


def provide(server: ShadowServer, dbname: str, names: list[str]) -> None:
    """Make sure each role of ``names`` (``[tool.alembic-guard] production-roles``: roles production
    has that no revision creates) exists under its name: ``CREATE ROLE … NOLOGIN`` for a missing one.
    Raises psycopg.Error (for instance a ``--shadow-url`` role without CREATEROLE)."""
    if not names:
        return
    with psycopg.connect(server.conninfo(dbname), autocommit=True, connect_timeout=10) as conn:
        have = {r[0] for r in conn.execute("select rolname from pg_catalog.pg_roles")}
        for name in names:
            if name not in have:
                conn.execute(sql.SQL("CREATE ROLE {} NOLOGIN").format(sql.Identifier(name)))


def prune(conn: psycopg.Connection, keep: set[int]) -> None:
    """Drop the parked roles whose oid is not in ``keep`` (the roles every recorded template needs)
    and on which no database depends any more; the others stay parked. Errors of one drop are
    ignored (a database still depends on it)."""
    for oid, name in made(conn).items():
        if oid not in keep and name == parked_name(oid):
            with contextlib.suppress(psycopg.Error):
                conn.execute(sql.SQL("DROP ROLE {}").format(sql.Identifier(name)))


def drop_created_since(server: ShadowServer, before: set[int]) -> None:
    """Drop the roles of ``server`` made since ``before`` (the oids of :func:`made` at the start),
    each only if nothing depends on it any more; errors are ignored (best effort, at stop)."""
    with contextlib.suppress(psycopg.Error), \
            psycopg.connect(server.conninfo(server.admin_db), autocommit=True, connect_timeout=10) as conn:
        for oid, name in made(conn).items():
            if oid not in before:
                with contextlib.suppress(psycopg.Error):
                    conn.execute(sql.SQL("DROP ROLE {}").format(sql.Identifier(name)))
