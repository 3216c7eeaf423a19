"""``alembic-guard fix`` on a real project traced on the real shadow PostgreSQL.

One project, one revision per rewrite; one fix run over all of them (module fixture) so the trace
and the proofs are shared. Every accepted rewrite was applied on a seeded database next to the
original, the catalogs compared equal and its trace held no dangerous lock over budget (that is
what ``accepted`` means); the tests also re-check the rewritten files themselves.
"""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import pytest
from click.testing import CliRunner

from alembic_guard.cli import main
from alembic_guard.rewrite.fix import run_fix
from alembic_guard.rewrite.report import render_fix_markdown, render_fix_text
from tests.projects.factory import Revision, make_project

SETUP = '''\
op.execute("""
CREATE TABLE customers (id bigint PRIMARY KEY, email text NOT NULL, name text);
CREATE TABLE products (id int PRIMARY KEY, sku text NOT NULL, price_cents int NOT NULL);
CREATE TABLE orders (id int PRIMARY KEY, customer_id bigint NOT NULL, product_id int, status text, note text);
CREATE INDEX ix_orders_note ON orders (note);
CREATE INDEX ix_orders_status ON orders (status);
CREATE TABLE events (id bigserial PRIMARY KEY, kind text NOT NULL);
CREATE TABLE audit (id int, msg text);
CREATE MATERIALIZED VIEW order_counts AS SELECT customer_id, count(*) AS n FROM orders GROUP BY customer_id;
CREATE UNIQUE INDEX ux_order_counts ON order_counts (customer_id);
""")'''

REVISIONS = {
    "create_index": '''\
    # build the customer index (comment kept)
    op.create_index(
        "ix_orders_customer_id",   # trailing comment kept
        "orders",
        ["customer_id"],
    )''',
    "drop_index": 'op.drop_index("ix_orders_note", table_name="orders")',
    "foreign_key": 'op.create_foreign_key("fk_orders_product", "orders", "products", ["product_id"], ["id"])',
    "check": 'op.create_check_constraint("ck_price_positive", "products", "price_cents > 0")',
    "unique": 'op.create_unique_constraint("uq_products_sku", "products", ["sku"])',
    "primary_key": 'op.create_primary_key("audit_pkey", "audit", ["id"])',
    "not_null": 'op.execute("UPDATE orders SET status = \'new\' WHERE status IS NULL")\n'
                'op.alter_column("orders", "status", nullable=False, existing_type=sa.Text())',
    "volatile_default": 'op.add_column("orders", sa.Column("public_id", sa.Uuid(), nullable=False,\n'
                        '                                  server_default=sa.text("gen_random_uuid()")))',
    "raw_index": 'op.execute("CREATE INDEX ix_customers_email ON customers (email)")',
    "raw_fk": 'op.execute("ALTER TABLE orders ADD CONSTRAINT fk_orders_customer FOREIGN KEY (customer_id) '
              'REFERENCES customers (id)")',
    "raw_drop_index": 'op.execute("DROP INDEX ix_orders_status")',
    "raw_refresh": 'op.execute("REFRESH MATERIALIZED VIEW order_counts")',
    "lock_timeout": 'op.add_column("customers", sa.Column("nickname", sa.Text()))\n'
                    'op.create_index("ix_customers_name", "customers", ["name"])',
    "raw_backfill": 'op.execute("UPDATE orders SET note = \'n/a\' WHERE note IS NULL")',
    # UPDATE … FROM and DELETE: the statement as written, in keyset batches on the primary key
    "raw_update_from": 'op.execute("UPDATE orders AS o SET note = c.email FROM customers AS c '
                       'WHERE o.customer_id = c.id")',
    "raw_delete": 'op.execute("DELETE FROM events WHERE id % 2 = 0 AND kind LIKE \'k%\'")',
    # a role is global to the server: the original's CREATE ROLE must not make the rewrite's fail
    "role_and_index": 'op.execute("CREATE ROLE ag_fix_role NOLOGIN")\n'
                      'op.create_index("ix_orders_product_id", "orders", ["product_id"])',
    # fails on the shadow (CONCURRENTLY in the transaction): the revisions after it cannot be proven
    "cic_in_transaction": 'op.create_index("ix_events_kind", "events", ["kind"], postgresql_concurrently=True)',
    "safe_without_timeout": 'op.add_column("products", sa.Column("color", sa.Text()))',
    "rename": 'op.alter_column("customers", "name", new_column_name="full_name")',
    "bigint": 'op.alter_column("orders", "id", type_=sa.BigInteger(), existing_type=sa.Integer())',
    "safe": '''\
    # already safe: concurrent, outside the transaction
    with op.get_context().autocommit_block():
        op.create_index("ix_products_price", "products", ["price_cents"], postgresql_concurrently=True)''',
}
ACCEPTED = {"create_index": "create-index-concurrently", "drop_index": "drop-index-concurrently",
            "foreign_key": "add-foreign-key-not-valid", "check": "add-check-not-valid",
            "unique": "add-unique-using-index", "primary_key": "add-primary-key-using-index",
            "not_null": ["batched-backfill", "set-not-null-via-check"], "raw_backfill": "batched-backfill", "raw_update_from": "batched-update",
            "raw_delete": "batched-delete",
            "volatile_default": "add-column-volatile-default", "raw_index": "raw-sql", "raw_fk": "raw-sql",
            "raw_drop_index": "raw-sql", "raw_refresh": "raw-sql",
            "lock_timeout": ["lock-timeout-retry", "create-index-concurrently"],
            "cic_in_transaction": "create-index-concurrently", "role_and_index": "create-index-concurrently"}
REFUSED = {"rename": "rename-column", "bigint": "rewriting-type-change"}


def write_project(root: Path) -> Path:
    return make_project(root, [Revision(name, body, downgrade="pass  # keep me")
                               for name, body in [("setup", SETUP), *REVISIONS.items()]],
                        env="ini_no_logging", url="postgresql+psycopg://nobody@invalid.invalid/x")


@pytest.fixture(scope="module")
def project(tmp_path_factory):
    return write_project(tmp_path_factory.mktemp("fixproj"))


@pytest.fixture(scope="module")
def report(project, shadow):
    return run_fix(str(project), list(REVISIONS), server=shadow)


@pytest.fixture(scope="module")
def by_rev(report):
    return {fx.revision: fx for fx in report.revisions}


@pytest.mark.parametrize("rev", sorted(ACCEPTED))
def test_rewrite_is_accepted_on_the_shadow(by_rev, rev):
    fx = by_rev[rev]
    expected = ACCEPTED[rev] if isinstance(ACCEPTED[rev], list) else [ACCEPTED[rev]]
    assert [lr.kind for lr in fx.rewrites] == expected, render_fix_text_one(fx)
    assert all(lr.accepted for lr in fx.rewrites), render_fix_text_one(fx)
    assert fx.proof is not None and fx.proof.accepted, fx.proof.reasons()
    assert fx.proof.differences == [] and fx.proof.lock_problems == []
    new = fx.new_source
    compile(new, fx.path, "exec")  # renders to valid Python
    assert "verified on PostgreSQL" in new
    assert "def downgrade():\n    pass  # keep me\n" in new  # untouched parts stay as they were
    if "alembic_guard.ops" in new or "op.run_with_lock_timeout" in new:
        assert "import alembic_guard.ops" in new


def render_fix_text_one(fx):
    return "\n".join(f"{lr.kind} {lr.accepted} {lr.refused} {lr.rejected_because}" for lr in fx.rewrites) + fx.diff


def test_rewritten_locks_are_weaker(by_rev):
    fx = by_rev["create_index"]
    assert any("SHARE on orders" in x for x in fx.proof.locks_before)
    assert fx.proof.locks_after == []
    fx = by_rev["volatile_default"]
    assert any("rewrite" in x for x in fx.proof.locks_before)
    assert not any("rewrite" in x or "scan" in x for x in fx.proof.locks_after)


def test_comments_and_layout_are_preserved(by_rev):
    fx = by_rev["create_index"]
    assert "    # build the customer index (comment kept)\n" in fx.new_source
    assert 'op.create_index_concurrently(\n' in fx.new_source or "create_index_concurrently(" in fx.new_source
    # everything outside the rewritten statement is byte-for-byte the same
    old_lines = fx.source.splitlines()
    new_lines = [ln for ln in fx.new_source.splitlines()
                 if not ln.startswith("# alembic-guard:") and "import alembic_guard.ops" not in ln]
    head = old_lines[:old_lines.index("    # build the customer index (comment kept)") + 1]
    assert new_lines[:len(head)] == head
    assert fx.source.split("def downgrade():")[1] == fx.new_source.split("def downgrade():")[1]


def test_raw_sql_is_rewritten_through_the_parser(by_rev):
    src = by_rev["raw_index"].new_source
    assert "with op.get_context().autocommit_block():" in src
    assert 'op.execute("DROP INDEX CONCURRENTLY IF EXISTS ix_customers_email")' in src
    assert 'op.execute("CREATE INDEX CONCURRENTLY ix_customers_email ON customers (email)")' in src
    src = by_rev["raw_fk"].new_source
    assert "NOT VALID" in src and 'op.validate_constraint("fk_orders_customer", "orders")' in src
    assert "REFRESH MATERIALIZED VIEW CONCURRENTLY order_counts" in by_rev["raw_refresh"].new_source


@pytest.mark.parametrize("rev", sorted(REFUSED))
def test_unsafe_in_one_revision_is_refused_with_a_plan(by_rev, rev):
    fx = by_rev[rev]
    (lr,) = fx.rewrites
    assert lr.kind == REFUSED[rev] and lr.refused and not lr.accepted
    assert len(lr.plan) >= 2
    assert "# alembic-guard: not rewritten:" in fx.new_source
    # the op itself is kept as written
    assert lr.before.strip() in fx.new_source
    compile(fx.new_source, fx.path, "exec")


@pytest.mark.parametrize("rev", ["safe", "safe_without_timeout"])
def test_safe_revision_is_left_alone(by_rev, rev):
    # a brief ACCESS EXCLUSIVE without lock_timeout is a warning, not a danger: the file is not touched
    fx = by_rev[rev]
    assert fx.rewrites == [] and fx.new_source is None and fx.diff == ""


def test_reports(report):
    text = render_fix_text(report)
    assert "REWRITTEN" in text and "REFUSED" in text and "locks before" in text and "+++ b/" in text
    md = render_fix_markdown(report)
    assert "```diff" in md and "Expand/contract plan" in md and "**Verification**" in md


def test_cli_write_and_byte_identity(project, shadow, tmp_path):
    root = tmp_path / "p"
    shutil.copytree(project.parent, root)
    versions = root / "migrations" / "versions"
    before = {p.name: p.read_bytes() for p in versions.glob("*.py")}
    url = f"postgresql://{shadow.user}@/{shadow.admin_db}?host={shadow.host}&port={shadow.port}"
    args = ["fix", "create_index", "safe", "--write", "-c", str(root / "alembic.ini"), "--shadow-url", url]
    if shadow.password:
        args[-1] = url.replace(f"{shadow.user}@", f"{shadow.user}:{shadow.password}@")
    result = CliRunner().invoke(main, args)
    assert result.exit_code == 0, result.output
    assert (versions / "safe.py").read_bytes() == before["safe.py"]
    assert (versions / "create_index.py").read_bytes() != before["create_index.py"]
    for name in before:
        if name not in ("create_index.py", "safe.py"):
            assert (versions / name).read_bytes() == before[name]
    # a second run finds nothing left to do: the rewritten revision is safe
    result = CliRunner().invoke(main, args[:-4] + ["-c", str(root / "alembic.ini"), "--shadow-url", args[-1],
                                                     "--format", "markdown"])
    assert result.exit_code == 0, result.output
    assert "create_index — unchanged" in result.output


def test_update_from_and_delete_keep_their_statement_in_keyset_batches(by_rev):
    src = re.sub(r'"\n *"', "", by_rev["raw_update_from"].new_source)  # the SQL literal's lines joined
    assert "done AS (UPDATE orders AS o SET note = c.email FROM customers AS c WHERE o.id IN (SELECT id FROM batch) " \
           "AND o.customer_id = c.id)" in src, src
    src = re.sub(r'"\n *"', "", by_rev["raw_delete"].new_source)
    assert "DELETE FROM events WHERE events.id IN (SELECT id FROM batch) AND (id % 2 = 0 AND kind LIKE 'k%')" in src
    assert by_rev["raw_delete"].proof.seeded.get("events", 0) >= 1000
