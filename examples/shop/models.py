"""The shop's SQLAlchemy models, as the schema stands after the last revision.

Change a model, then let autogenerate write the revision (no database of yours needed):

    alembic-guard revision --autogenerate -m "orders by status"

env.py passes ``alembic_guard.process_revision_directives`` to Alembic, so an unsafe operation
(``op.create_index`` on the live ``orders`` table, say) comes out as its safe form
(``op.create_index_concurrently``), verified on a shadow PostgreSQL.
"""

import sqlalchemy as sa

metadata = sa.MetaData()

customers = sa.Table(
    "customers",
    metadata,
    sa.Column("id", sa.BigInteger, sa.Identity(), primary_key=True),
    sa.Column("email", sa.String(100), nullable=False),
    sa.Column("full_name", sa.String(100)),
    sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
    sa.Column("country", sa.String(2), nullable=False, server_default="NL"),
    sa.Index("ix_customers_email", "email", unique=True),
)

products = sa.Table(
    "products",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("sku", sa.String(32), nullable=False),
    sa.Column("title", sa.String(400), nullable=False),
    sa.Column("price_cents", sa.Integer, nullable=False),
    sa.UniqueConstraint("sku", name="uq_products_sku"),
    sa.CheckConstraint("price_cents > 0", name="ck_products_price_positive"),
)

orders = sa.Table(
    "orders",
    metadata,
    sa.Column("id", sa.BigInteger, primary_key=True),
    sa.Column("customer_id", sa.BigInteger, nullable=False),
    sa.Column("product_id", sa.Integer, sa.ForeignKey("products.id", name="fk_orders_product_id")),
    sa.Column("quantity", sa.Integer, nullable=False, server_default="1"),
    sa.Column("status", sa.String(20), nullable=False),
    sa.Column("note", sa.Text),
    sa.Column("public_id", sa.Uuid, nullable=False, server_default=sa.text("gen_random_uuid()")),
    sa.Index("ix_orders_customer_id", "customer_id"),
    sa.Index("ix_orders_product_id", "product_id"),
)
