"""widen product titles

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-06 10:00:00.000000

"""
from typing import Sequence, Union

from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision: str = '0006'
down_revision: Union[str, Sequence[str], None] = '0005'
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None


def upgrade() -> None:
    """Upgrade schema."""
    op.execute("SET lock_timeout = '2s'")
    # Binary-coercible: no rewrite, no scan.
    op.alter_column("products", "title", type_=sa.String(400), existing_type=sa.String(200))
    op.alter_column("orders", "note", type_=sa.Text(), existing_type=sa.String(100))


def downgrade() -> None:
    """Downgrade schema."""
    op.alter_column("orders", "note", type_=sa.String(100), existing_type=sa.Text())
    op.alter_column("products", "title", type_=sa.String(200), existing_type=sa.String(400))
