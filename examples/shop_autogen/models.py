"""The shop's models after the change: autogenerate compares these with the database.

Compared with revision 0001, every table gains something that is unsafe to add to a live table in
plain Alembic: an index, a foreign key, a CHECK, a UNIQUE constraint, a NOT NULL and a column with
a volatile default. ``alembic revision --autogenerate`` with alembic_guard's hook writes the safe form.
"""

import sqlalchemy as sa

metadata = sa.MetaData()

customers = sa.Table(
    "customers",
    metadata,
    sa.Column("id", sa.BigInteger, sa.Identity(), primary_key=True),
    sa.Column("email", sa.String(100), nullable=False),
    sa.Column("name", sa.String(100)),
    sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
    sa.Index("ix_customers_email", "email", unique=True),
)

products = sa.Table(
    "products",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("sku", sa.String(32), nullable=False),
    sa.Column("title", sa.String(200), nullable=False),
    sa.Column("price_cents", sa.Integer, nullable=False),
    sa.UniqueConstraint("sku", name="uq_products_sku"),
    sa.CheckConstraint("price_cents > 0", name="ck_products_price_positive"),
)

orders = sa.Table(
    "orders",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("customer_id", sa.BigInteger, nullable=False, index=True),
    sa.Column("product_id", sa.Integer, sa.ForeignKey("products.id", name="fk_orders_product_id")),
    sa.Column("quantity", sa.Integer, nullable=False, server_default="1"),
    sa.Column("status", sa.String(20), nullable=False),
    sa.Column("note", sa.String(100)),
    sa.Column("public_id", sa.Uuid, nullable=False, server_default=sa.text("gen_random_uuid()")),
)
