"""orders reference products, NOT VALID then VALIDATE

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-07 10:00:00.000000

"""
from typing import Sequence, Union

from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision: str = '0007'
down_revision: Union[str, Sequence[str], None] = '0006'
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None


def upgrade() -> None:
    """Upgrade schema."""
    op.execute("SET lock_timeout = '2s'")
    op.create_foreign_key(
        "fk_orders_product_id", "orders", "products", ["product_id"], ["id"], postgresql_not_valid=True
    )
    # Validate in a transaction of its own: it only takes SHARE UPDATE EXCLUSIVE on orders.
    with op.get_context().autocommit_block():
        op.execute("ALTER TABLE orders VALIDATE CONSTRAINT fk_orders_product_id")


def downgrade() -> None:
    """Downgrade schema."""
    op.drop_constraint("fk_orders_product_id", "orders", type_="foreignkey")
