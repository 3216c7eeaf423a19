"""The autogenerate hook in a real ``alembic revision --autogenerate`` run against a shadow database
that already has the tables (examples/shop with its models changed), then ``check`` on the
generated revision."""

from __future__ import annotations

import os
import shutil
import sys
from pathlib import Path

import psycopg
import pytest
from alembic import command
from alembic.autogenerate import rewriter
from alembic.config import Config
from alembic.operations import ops

from alembic_guard.autogen import chain, process_revision_directives, wrap
from alembic_guard.check import CheckOptions, run_check

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "shop"

# Model changes that plain autogenerate turns into operations unsafe on live tables.
CHANGES = [
    ('    sa.Index("ix_orders_product_id", "product_id"),\n',
     '    sa.Index("ix_orders_product_id", "product_id"),\n    sa.Index("ix_orders_status", "status"),\n'
     '    sa.UniqueConstraint("public_id", name="uq_orders_public_id"),\n'),
    ('    sa.Column("customer_id", sa.BigInteger, nullable=False),\n',
     '    sa.Column("customer_id", sa.BigInteger, sa.ForeignKey("customers.id", name="fk_orders_customer_id"),'
     ' nullable=False),\n'),
    ('    sa.Column("full_name", sa.String(100)),\n', '    sa.Column("full_name", sa.String(100), nullable=False),\n'),
    ('    sa.Column("country", sa.String(2), nullable=False, server_default="NL"),\n',
     '    sa.Column("country", sa.String(2), nullable=False, server_default="NL"),\n'
     '    sa.Column("loyalty_id", sa.Uuid, nullable=False, server_default=sa.text("gen_random_uuid()")),\n'),
]


@pytest.fixture
def shop(tmp_path, shadow, dbname, monkeypatch):
    """examples/shop copied to tmp, its revisions applied to the per-test database, a few rows, and
    its models changed (CHANGES)."""
    return _shop(tmp_path, shadow, dbname, monkeypatch, CHANGES)


def _shop(tmp_path, shadow, dbname, monkeypatch, changes):
    root = tmp_path / "shop"
    shutil.copytree(EXAMPLE, root, ignore=shutil.ignore_patterns("__pycache__"))
    models = root / "models.py"
    text = models.read_text()
    for old, new in changes:
        assert old in text
        text = text.replace(old, new)
    models.write_text(text)
    monkeypatch.setenv("DATABASE_URL", shadow.sqlalchemy_url(dbname))
    monkeypatch.chdir(root)
    monkeypatch.syspath_prepend(str(root))
    monkeypatch.delitem(sys.modules, "models", raising=False)  # env.py imports models.py from the copy
    cfg = Config(str(root / "alembic.ini"))
    command.upgrade(cfg, "head")
    with psycopg.connect(shadow.conninfo(dbname), autocommit=True) as c:
        c.execute("INSERT INTO customers (id, email, full_name) VALUES (1, 'a@b.c', 'A')")
        c.execute("INSERT INTO products (id, sku, title, price_cents) VALUES (1, 'a', 'b', 3)")
        c.execute("INSERT INTO orders (id, customer_id, product_id, status) VALUES (1, 1, 1, 'new')")
    return root, cfg


def _generated(root: Path) -> str:
    (path,) = (root / "migrations" / "versions").glob("0013_*.py")
    return path.read_text()


def test_autogenerate_writes_a_safe_verified_revision(shop, shadow):
    root, cfg = shop
    command.revision(cfg, message="shop changes", autogenerate=True, rev_id="0013")
    src = _generated(root)
    compile(src, "0013", "exec")
    assert "import alembic_guard.ops" in src
    assert "verified on PostgreSQL" in src, src
    for call in ("op.create_index_concurrently(", "op.add_foreign_key_safely(",
                 "op.add_unique_constraint_using_index(", "op.set_not_null_safely(", "op.backfill(",
                 "op.run_with_lock_timeout("):
        assert call in src, (call, src)
    assert "op.create_index(" not in src.split("def downgrade")[0]
    assert "op.drop_index_concurrently(" in src.split("def downgrade")[1]

    os.environ.pop("DATABASE_URL", None)  # check never needs the user's database
    report = run_check(CheckOptions(config_file=str(root / "alembic.ini"), shadow_url=_url(shadow)))
    rev = next(r for r in report.revisions if r.revision == "0013")
    assert rev.error is None, rev.error
    assert rev.verdict == "safe", [(f.rule, f.line, f.message) for f in rev.findings]


def _url(shadow) -> str:
    auth = shadow.user + (f":{shadow.password}" if shadow.password else "")
    return f"postgresql://{auth}@/{shadow.admin_db}?host={shadow.host}&port={shadow.port}"


def test_refused_operation_keeps_the_op_with_a_comment(shop, monkeypatch):
    root, cfg = shop
    models = root / "models.py"
    models.write_text(models.read_text().replace('    sa.Column("note", sa.Text),\n', ""))
    monkeypatch.setenv("ALEMBIC_GUARD_VERIFY", "0")
    monkeypatch.delitem(sys.modules, "models", raising=False)
    command.revision(cfg, message="drop note", autogenerate=True, rev_id="0013")
    src = _generated(root)
    compile(src, "0013", "exec")
    assert "# alembic-guard: NOT rewritten: dropping a column breaks running code" in src
    assert "op.drop_column('orders', 'note')" in src
    assert "not verified on a shadow" in src


def test_a_proven_rewrite_is_kept_next_to_an_operation_that_stays_unsafe(tmp_path, shadow, dbname, monkeypatch,
                                                                         capfd):
    """One rewritable operation (an index on the live orders table) and one that cannot be rewritten
    (a NOT NULL column without a default, which fails on the seeded orders in the original too): the
    proven rewrite is kept, the other operation stays as written and is named as still unsafe in the
    revision and on stderr."""
    root, cfg = _shop(tmp_path, shadow, dbname, monkeypatch, [
        CHANGES[0][:1] + ('    sa.Index("ix_orders_product_id", "product_id"),\n    sa.Index("ix_orders_status", "status"),\n',),
        ('    sa.Column("note", sa.Text),\n', '    sa.Column("note", sa.Text),\n    sa.Column("tier", sa.Text, nullable=False),\n'),
    ])
    command.revision(cfg, message="status index and tier", autogenerate=True, rev_id="0013")
    src = _generated(root)
    compile(src, "0013", "exec")
    upgrade = src.split("def downgrade")[0]
    assert "op.create_index_concurrently('ix_orders_status', 'orders', ['status'])" in upgrade, src
    assert "verified on PostgreSQL" in upgrade and "proven without the operations that remain unsafe" in upgrade, src
    assert "STILL UNSAFE: ADD COLUMN orders.tier: a NOT NULL column without a default" in upgrade, src
    assert "# alembic-guard: NOT rewritten: a NOT NULL column without a default" in upgrade, src
    assert "op.add_column('orders', sa.Column('tier', sa.Text(), nullable=False))" in upgrade, src
    assert "op.create_index('ix_orders_status'" not in upgrade, src
    err = capfd.readouterr().err
    assert "STILL UNSAFE" in err and "ADD COLUMN orders.tier" in err, err


def test_chain_composes_with_an_alembic_rewriter():
    seen = []
    rw = rewriter.Rewriter()

    @rw.rewrites(ops.CreateIndexOp)
    def mark(context, revision, op):
        seen.append(op.index_name)
        return op

    script = ops.MigrationScript("x", ops.UpgradeOps(ops=[ops.CreateIndexOp("ix", "t", ["a"])]),
                                 ops.DowngradeOps(ops=[]))
    chain(rw, process_revision_directives)(None, None, [script])
    assert seen == ["ix"]
    # without a connection nothing is known to pre-exist: nothing is rewritten
    assert isinstance(script.upgrade_ops.ops[0], ops.CreateIndexOp)
    calls = []
    wrap(lambda c, r, d: calls.append(1))(None, None, [script])
    assert calls == [1]


def test_revision_command_autogenerates_against_the_shadow(tmp_path):
    """`alembic-guard revision --autogenerate` needs no database: the shadow is upgraded to head."""
    import subprocess

    from tests.conftest import test_provider

    root = tmp_path / "shop"
    shutil.copytree(EXAMPLE, root, ignore=shutil.ignore_patterns("__pycache__"))
    models = root / "models.py"
    models.write_text(models.read_text().replace(*CHANGES[0]))
    env = dict(os.environ, ALEMBIC_GUARD_SHADOW=test_provider() or "auto")
    env.pop("DATABASE_URL", None)
    r = subprocess.run([sys.executable, "-m", "alembic_guard.cli", "revision", "-c", str(root / "alembic.ini"),
                        "-m", "orders by status", "--rev-id", "0013"], capture_output=True, text=True, env=env,
                       timeout=300)
    assert r.returncode == 0, r.stderr
    src = _generated(root)
    assert "op.create_index_concurrently('ix_orders_status', 'orders', ['status'])" in src
    assert "op.add_unique_constraint_using_index('uq_orders_public_id'" in src
    assert "verified on PostgreSQL" in src
    check = subprocess.run([sys.executable, "-m", "alembic_guard.cli", "check", "-c", str(root / "alembic.ini"),
                            "--from", "0012", "--format", "json"], capture_output=True, text=True, env=env, timeout=300)
    assert check.returncode == 0, check.stdout + check.stderr
