"""Shadow PostgreSQL: where alembic_guard runs revisions. Never the user's database."""

from .providers import PROVIDERS, obtain_shadow
from .scratch import scratch_database
from .server import ShadowServer

__all__ = ["PROVIDERS", "ShadowServer", "obtain_shadow", "scratch_database"]
