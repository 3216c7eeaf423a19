"""add orders.public_id with a random default

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-05 10:00:00.000000

"""
from typing import Sequence, Union

from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision: str = '0005'
down_revision: Union[str, Sequence[str], None] = '0004'
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None


def upgrade() -> None:
    """Upgrade schema."""
    # gen_random_uuid() is volatile: every existing row gets its own value, so the table is rewritten.
    op.add_column(
        "orders",
        sa.Column("public_id", sa.Uuid, nullable=False, server_default=sa.text("gen_random_uuid()")),
    )


def downgrade() -> None:
    """Downgrade schema."""
    op.drop_column("orders", "public_id")
