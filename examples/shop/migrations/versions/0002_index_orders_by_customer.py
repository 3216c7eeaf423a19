"""index orders by customer

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-02 10:00:00.000000

"""
from typing import Sequence, Union

from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision: str = '0002'
down_revision: Union[str, Sequence[str], None] = '0001'
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None


def upgrade() -> None:
    """Upgrade schema."""
    # Blocks every write to orders while the index builds.
    op.create_index("ix_orders_customer_id", "orders", ["customer_id"])


def downgrade() -> None:
    """Downgrade schema."""
    op.drop_index("ix_orders_customer_id", table_name="orders")
