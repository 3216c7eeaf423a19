"""rename customers.name to full_name

Revision ID: 0010
Revises: 0009
Create Date: 2026-11-01 10:00:00.000000

"""
from typing import Sequence, Union

from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision: str = '0010'
down_revision: Union[str, Sequence[str], None] = '0009'
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None


def upgrade() -> None:
    """Upgrade schema."""
    op.alter_column("customers", "name", new_column_name="full_name")


def downgrade() -> None:
    """Downgrade schema."""
    op.alter_column("customers", "full_name", new_column_name="name")
