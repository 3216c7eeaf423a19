"""How env.py runs the revisions: the transaction mode the report states.

Read from Alembic's MigrationContext while the first traced statement runs (``transactional_ddl``,
``transaction_per_migration``, whether the connection was already in a transaction when
``context.configure()`` ran: Alembic then treats it as external and commits nothing itself).
"""

from __future__ import annotations

PER_MIGRATION = "transaction per migration"
ONE_TRANSACTION = "one transaction around all revisions"
EXTERNAL = "a transaction env.py opened (Alembic commits nothing itself)"
NO_TRANSACTION = "no migration transaction (transactional_ddl off or an autocommit connection)"


def detect_mode() -> str:
    """The mode of the running migration context, or "" outside one."""
    try:
        from alembic import context as alembic_context

        mc = alembic_context.get_context()
    except Exception:  # noqa: BLE001 - not inside env.py's run
        return ""
    if getattr(mc, "_in_external_transaction", False):
        return EXTERNAL
    if not getattr(mc.impl, "transactional_ddl", True):
        return NO_TRANSACTION
    try:
        if mc.connection is not None and mc.connection.get_isolation_level() == "AUTOCOMMIT":
            return NO_TRANSACTION
    except Exception:  # noqa: BLE001 - a driver that cannot say
        pass
    return PER_MIGRATION if getattr(mc, "_transaction_per_migration", False) else ONE_TRANSACTION
