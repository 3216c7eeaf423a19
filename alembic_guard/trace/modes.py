"""How env.py runs the revisions: the transaction mode the report states.

Read from Alembic's MigrationContext while a traced statement runs (``transaction_per_migration``,
whether the connection was already in a transaction when ``context.configure()`` ran: Alembic then
treats it as external, begins and commits nothing itself, and ``autocommit_block()`` fails on its own
``assert self._transaction is not None``), and the DBAPI connection's autocommit flag.

``transactional_ddl=False`` is not "no transaction": online, Alembic (1.5+) begins its own transaction
per migration then (``MigrationContext.begin_transaction(_per_migration=True)``), so the revisions
run as with ``transaction_per_migration=True``.
"""

from __future__ import annotations

from ..alembic_api import (
    alembic_transaction_open,
    current_context,
    in_external_transaction,
    per_migration_configured,
    transactional_ddl,
)

PER_MIGRATION = "transaction per migration"
ONE_TRANSACTION = "one transaction around all revisions"
EXTERNAL = "a transaction env.py opened (Alembic commits nothing itself)"
NO_TRANSACTION = "no migration transaction (an autocommit connection)"


def detect_mode() -> tuple[str, bool]:
    """``(mode, certain)`` of the running migration context; ``("", False)`` outside one.

    Not certain inside an ``autocommit_block()``: there Alembic committed its transaction (set
    ``_transaction`` to None) and put the connection in AUTOCOMMIT for the block, which looks like an
    autocommit env.py. The caller asks again at a later statement."""
    mc = current_context()
    if mc is None:  # not inside env.py's run
        return "", False
    if in_external_transaction(mc):
        return EXTERNAL, True
    autocommit = False
    try:
        dbapi = mc.connection.connection.dbapi_connection
        autocommit = bool(getattr(dbapi, "autocommit", False)) or \
            mc.connection.get_execution_options().get("isolation_level") == "AUTOCOMMIT"
    except Exception:  # noqa: BLE001 - a driver that cannot say
        pass
    if autocommit:
        return NO_TRANSACTION, alembic_transaction_open(mc)
    if not transactional_ddl(mc):
        return PER_MIGRATION, True
    from ..capture.per_revision import requested_per_migration

    asked = requested_per_migration()  # check traces per revision; the report names what env.py asked
    per_migration = per_migration_configured(mc) if asked is None else asked
    return (PER_MIGRATION if per_migration else ONE_TRANSACTION), True
