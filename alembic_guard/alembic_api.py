"""Every access to Alembic's internals, in one place.

alembic_guard needs a few things Alembic has no public API for: where the revision files live, whether
the revision map was built, a revision's parents (``depends_on`` included), the state of the
migration transaction, the offline output buffer, and two patches (``transaction_per_migration``
forced while tracing; the ``alembic.context`` / ``alembic.op`` proxies restored after a nested run).
Each function below names the private attribute it reads and the Alembic versions it was checked on
(the supported range starts at 1.16, pyproject.toml): when Alembic changes one, this is the only
file to change, and tests/test_alembic_api.py says which.
"""

from __future__ import annotations

import contextlib
import os
import sys
from collections.abc import Callable, Iterator
from typing import Any

from alembic.script import Script, ScriptDirectory

CHECKED_ON = ("1.16.0", "1.20.1")


# -- the script directory ------------------------------------------------------------------------

def version_locations(script: ScriptDirectory) -> list[str]:
    """The directories the revision files are read from (``version_locations`` of alembic.ini, else
    ``<script_location>/versions``): ``ScriptDirectory._version_locations``. Checked on 1.16.0, 1.20.1."""
    return list(script._version_locations)


def revision_map_loaded(script: ScriptDirectory) -> bool:
    """Whether the revision scripts were imported: ``RevisionMap._revision_map`` is a memoized
    property, in the instance ``__dict__`` once computed. Checked on 1.16.0, 1.20.1."""
    return "_revision_map" in script.revision_map.__dict__


def revision_loader(script: ScriptDirectory) -> Callable[[], Iterator[Script]]:
    """The generator function that imports the revision files (``ScriptDirectory._load_revisions``),
    for wrapping it in a guard. Checked on 1.16.0, 1.20.1."""
    return script._load_revisions


def down_revisions(sc: Script) -> tuple[str, ...]:
    """A revision's parents, ``down_revision`` and ``depends_on`` together: ``Revision._all_down_revisions``.
    Checked on 1.16.0, 1.20.1."""
    return tuple(sc._all_down_revisions)


# -- the running migration context ---------------------------------------------------------------

def current_context() -> Any | None:
    """The MigrationContext of the env.py run in progress (``alembic.context.get_context()``), or None
    outside one (the proxy raises then). Public API; here so that callers need no try/except."""
    try:
        from alembic import context as alembic_context

        return alembic_context.get_context()
    except Exception:  # noqa: BLE001 - NameError / AttributeError from the proxy outside env.py's run
        return None


def in_external_transaction(mc: Any) -> bool:
    """The connection was already in a transaction when ``context.configure()`` ran: Alembic then
    begins and commits nothing itself (``MigrationContext._in_external_transaction``). Checked on 1.16.0, 1.20.1."""
    return bool(getattr(mc, "_in_external_transaction", False))


def alembic_transaction_open(mc: Any) -> bool:
    """Alembic's own migration transaction is open (``MigrationContext._transaction``; None inside
    ``autocommit_block()``). Checked on 1.16.0, 1.20.1."""
    return getattr(mc, "_transaction", None) is not None


def connection_in_transaction(mc: Any) -> bool:
    """The connection is in a transaction, whoever began it (``MigrationContext._in_connection_transaction()``).
    Checked on 1.16.0, 1.20.1."""
    return bool(mc._in_connection_transaction())


def per_migration_configured(mc: Any) -> bool:
    """``transaction_per_migration`` as given to ``context.configure()``
    (``MigrationContext._transaction_per_migration``). Checked on 1.16.0, 1.20.1."""
    return bool(getattr(mc, "_transaction_per_migration", False))


def transactional_ddl(mc: Any) -> bool:
    """Whether the dialect impl runs DDL in transactions (``MigrationContext.impl.transactional_ddl``;
    env.py may turn it off). Checked on 1.16.0, 1.20.1."""
    return bool(getattr(mc.impl, "transactional_ddl", True))


def offline_output(mc: Any) -> Any:
    """Where ``alembic upgrade --sql`` writes the script (``MigrationContext.impl.output_buffer``).
    Checked on 1.16.0, 1.20.1."""
    return mc.impl.output_buffer


# -- patches -------------------------------------------------------------------------------------

@contextlib.contextmanager
def forced_transaction_per_migration(record: Callable[[bool], None],
                                     note: Callable[[str], None] = lambda text: None) -> Iterator[None]:
    """While the block runs, ``EnvironmentContext.configure`` gets ``transaction_per_migration=True``
    whatever env.py passes; ``record`` is called with what env.py asked for. Patches the class
    attribute ``alembic.runtime.environment.EnvironmentContext.configure``. Checked on 1.16.0, 1.20.1.

    The block runs revisions online, on the shadow. An online ``configure(as_sql=True)`` (Alembic
    then writes the SQL out instead of running it: nothing would reach the shadow, and the trace
    would see no statement) is run as ``as_sql=False``, with ``note`` told why. A ``configure()``
    given no connection (an env.py made for ``--sql`` only) raises GuardError: nothing can run."""
    from alembic.runtime.environment import EnvironmentContext

    original = EnvironmentContext.configure

    def configure(self, *args, **kw):
        record(bool(kw.get("transaction_per_migration", False)))
        kw["transaction_per_migration"] = True
        if kw.get("as_sql") and not self.is_offline_mode():
            for key in ("as_sql", "output_buffer", "literal_binds"):
                kw.pop(key, None)
            note("env.py passes as_sql=True to context.configure() when it runs online: `alembic upgrade` "
                 "then writes the SQL out instead of running it; alembic-guard ran the same SQL on the "
                 "shadow to trace it")
        elif (args[0] if args else kw.get("connection")) is None and not self.is_offline_mode():
            from .errors import GuardError

            env_py = os.path.join(self.script.dir, "env.py")
            caller = sys._getframe(1)  # env.py's frame, past alembic.context's generated proxy
            while caller is not None and caller.f_code.co_filename != env_py:
                caller = caller.f_back
            raise GuardError(
                "env.py calls context.configure() without a connection while Alembic runs online (the "
                "form `alembic upgrade --sql` uses): alembic-guard runs the revisions online, on the shadow "
                "database, so there is nothing to run them on.",
                path=env_py, line=caller.f_lineno if caller is not None else None,
                hint="Give env.py the online branch of Alembic's template: engine_from_config(…), "
                     "connectable.connect() and context.configure(connection=connection, …).")
        return original(self, *args, **kw)

    EnvironmentContext.configure = configure  # type: ignore[method-assign]
    try:
        yield
    finally:
        EnvironmentContext.configure = original  # type: ignore[method-assign]


@contextlib.contextmanager
def proxies_restored() -> Iterator[None]:
    """Run a nested Alembic command (a proof inside autogenerate's env.py run) and put back the
    ``alembic.context`` and ``alembic.op`` the outer run was using: the module-level ``_proxy`` of
    each, reinstalled with ``_install_proxy()`` (util.langhelpers.ModuleClsProxy). Checked on 1.16.0, 1.20.1."""
    import alembic.context as alembic_context
    import alembic.op as alembic_op

    saved = (getattr(alembic_context, "_proxy", None), getattr(alembic_op, "_proxy", None))
    try:
        yield
    finally:
        for proxy in saved:
            if proxy is not None:
                proxy._install_proxy()


@contextlib.contextmanager
def script_reused(config: Any, script: ScriptDirectory) -> Iterator[None]:
    """While the block runs, ``ScriptDirectory.from_config(config)`` (what ``command.upgrade``,
    ``downgrade`` and ``stamp`` call first, and many env.py files too) returns ``script``, whose
    revision map is already built, instead of a new directory that imports every revision file again
    (0.1-0.3 s on 300 revisions, the larger part of a warm incremental check). Only for this very
    ``config`` object; any other is served as usual. Patches the class attribute
    ``ScriptDirectory.from_config`` (a classmethod). Checked on 1.16.0, 1.20.1."""
    original = ScriptDirectory.__dict__["from_config"]
    build = original.__func__

    def from_config(cls, cfg, *args, **kw):
        return script if cfg is config and not args and not kw else build(cls, cfg, *args, **kw)

    ScriptDirectory.from_config = classmethod(from_config)  # type: ignore[method-assign,assignment]
    try:
        yield
    finally:
        ScriptDirectory.from_config = original  # type: ignore[method-assign]
