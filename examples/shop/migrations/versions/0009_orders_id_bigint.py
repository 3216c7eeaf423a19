"""orders.id becomes bigint

Revision ID: 0009
Revises: 0008
Create Date: 2026-11-09 10:00:00.000000

"""
from typing import Sequence, Union

from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision: str = '0009'
down_revision: Union[str, Sequence[str], None] = '0008'
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None


def upgrade() -> None:
    """Upgrade schema."""
    op.alter_column("orders", "id", type_=sa.BigInteger, existing_type=sa.Integer)


def downgrade() -> None:
    """Downgrade schema."""
    op.alter_column("orders", "id", type_=sa.Integer, existing_type=sa.BigInteger)
