"""``prove()`` on seeded data, on the real shadow: a rewrite that behaves like the original on an
empty table but not on a non-empty one is rejected; the seeding gives every table thousands of
rows that satisfy its constraints."""

from __future__ import annotations

from pathlib import Path

import psycopg
import pytest

from alembic_guard.capture.project import load_project
from alembic_guard.rewrite.proof import prove, project_copy
from alembic_guard.rewrite.seed import seed_tables
from tests.projects.factory import make_project

SETUP = '''op.execute("""
CREATE TABLE customers (id bigint PRIMARY KEY, email text NOT NULL UNIQUE);
CREATE TABLE orders (id bigint PRIMARY KEY, customer_id bigint NOT NULL REFERENCES customers (id),
                     status text NOT NULL CHECK (status IN ('new', 'paid')), qty int CHECK (qty BETWEEN 1 AND 10),
                     note text);
""")'''


def _prove(tmp_path: Path, shadow, original: str, rewritten: str):
    ini = make_project(tmp_path / "p", [("r1", SETUP), ("r2", original)], env="ini_no_logging",
                       url="postgresql+psycopg://nobody@invalid.invalid/x")
    project = load_project(str(ini))
    path = str(tmp_path / "p" / "migrations" / "versions" / "r2.py")
    new = Path(path).read_text().replace(_indent(original), _indent(rewritten))
    assert new != Path(path).read_text()
    with project_copy(project) as a, project_copy(project, {path: new}) as b:
        return prove(project, shadow, "r2", "r1", original=a, rewritten=b, tables=["orders"])


def _indent(body: str) -> str:
    return "\n".join("    " + ln for ln in body.splitlines())


def test_the_seeded_rows_satisfy_the_constraints(shadow, dbname):
    info = shadow.conninfo(dbname)
    with psycopg.connect(info, autocommit=True) as c:
        c.execute(SETUP.split('"""')[1])
    assert seed_tables(info, ["orders"]) == {"customers": 2000, "orders": 2000}
    with psycopg.connect(info, autocommit=True) as c:
        assert c.execute("SELECT count(DISTINCT customer_id), count(DISTINCT status), max(qty) FROM orders"
                         ).fetchone() == (2000, 2, 10)


def test_a_rewrite_that_differs_only_on_a_non_empty_table_is_rejected(shadow, tmp_path):
    # on an empty table both end in the same catalog (NOT NULL, DEFAULT 0); on seeded rows the
    # "rewrite" fails: the existing rows have no value for the new NOT NULL column
    original = 'op.add_column("orders", sa.Column("n", sa.Integer(), nullable=False, server_default="0"))'
    wrong = ('op.add_column("orders", sa.Column("n", sa.Integer()))\n'
             'op.alter_column("orders", "n", server_default="0")\n'
             'op.alter_column("orders", "n", nullable=False)')
    proof = _prove(tmp_path, shadow, original, wrong)
    assert proof.seeded["orders"] == 2000
    assert not proof.accepted and proof.rewrite_error and "null" in proof.rewrite_error.lower(), proof.reasons()


@pytest.mark.parametrize("wrong, why", [
    ('op.execute("UPDATE orders SET note = \'y\' WHERE status = \'new\'")', "orders.note: different values"),
    ('op.execute("UPDATE orders SET note = \'x\' WHERE status = \'paid\'")', "orders.note: different values"),
    ('op.execute("UPDATE orders SET note = NULL WHERE status = \'new\'")', "orders.note: 2000 non-NULL values after the original, 1000"),
    ('op.execute("DELETE FROM orders WHERE status = \'new\'")', "orders: 2000 rows after the original, 1000"),
])
def test_a_rewrite_that_changes_other_rows_or_values_is_rejected(shadow, tmp_path, wrong, why):
    original = 'op.execute("UPDATE orders SET note = \'x\' WHERE status = \'new\'")'
    proof = _prove(tmp_path, shadow, original, wrong)
    assert not proof.accepted and not proof.differences, proof.reasons()  # same catalog: only the data tells
    assert any(why in d for d in proof.data_differences), proof.reasons()


def test_the_batched_form_of_the_same_update_is_accepted(shadow, tmp_path):
    original = 'op.execute("UPDATE orders SET note = \'x\' WHERE status = \'new\'")'
    batched = ('import alembic_guard.ops  # noqa: F401\n'
               'op.backfill("orders", {"note": "\'x\'"}, where="status = \'new\'")')
    proof = _prove(tmp_path, shadow, original, batched)
    assert proof.accepted, proof.reasons()
