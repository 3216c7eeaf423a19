"""products get a unique sku and a price check

Revision ID: 0012
Revises: 0011
Create Date: 2026-11-01 10:00:00.000000

"""
from typing import Sequence, Union

from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision: str = '0012'
down_revision: Union[str, Sequence[str], None] = '0011'
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None


def upgrade() -> None:
    """Upgrade schema."""
    op.create_unique_constraint("uq_products_sku", "products", ["sku"])
    op.create_check_constraint("ck_products_price_positive", "products", "price_cents > 0")


def downgrade() -> None:
    """Downgrade schema."""
    op.drop_constraint("ck_products_price_positive", "products", type_="check")
    op.drop_constraint("uq_products_sku", "products", type_="unique")
