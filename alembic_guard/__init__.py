"""alembic_guard: migration safety analyzer for Alembic on PostgreSQL."""

__version__ = "0.1.0"
