"""add customers.country with a constant default

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-04 10:00:00.000000

"""
from typing import Sequence, Union

from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision: str = '0004'
down_revision: Union[str, Sequence[str], None] = '0003'
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None


def upgrade() -> None:
    """Upgrade schema."""
    op.execute("SET lock_timeout = '2s'")
    # PostgreSQL >= 11 stores a non-volatile default in the catalog: no table rewrite.
    op.add_column("customers", sa.Column("country", sa.String(2), nullable=False, server_default="NL"))


def downgrade() -> None:
    """Downgrade schema."""
    op.drop_column("customers", "country")
