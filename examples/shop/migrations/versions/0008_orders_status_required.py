"""orders.status is required

Revision ID: 0008
Revises: 0007
Create Date: 2026-11-08 10:00:00.000000

"""
from typing import Sequence, Union

from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision: str = '0008'
down_revision: Union[str, Sequence[str], None] = '0007'
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None


def upgrade() -> None:
    """Upgrade schema."""
    op.execute("UPDATE orders SET status = 'new' WHERE status IS NULL")
    op.alter_column("orders", "status", nullable=False, existing_type=sa.String(20))


def downgrade() -> None:
    """Downgrade schema."""
    op.alter_column("orders", "status", nullable=True, existing_type=sa.String(20))
