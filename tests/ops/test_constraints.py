"""NOT VALID → COMMIT → VALIDATE for foreign keys and checks; set_not_null_safely; USING INDEX."""

from __future__ import annotations

import pytest
import sqlalchemy as sa

from alembic_guard.errors import GuardError


def constraints(conn, table: str):
    return conn.execute("SELECT conname, contype, convalidated FROM pg_constraint WHERE conrelid = %s::regclass "
                        "ORDER BY conname", [table]).fetchall()


def between(statements: list[str], first: str, second: str) -> list[str]:
    i = next(i for i, s in enumerate(statements) if s.startswith(first))
    j = next(j for j, s in enumerate(statements) if s.startswith(second))
    assert i < j
    return statements[i + 1:j]


def test_foreign_key_not_valid_commit_validate(conn, migration, recorder):
    conn.execute("CREATE TABLE customers (id int PRIMARY KEY); INSERT INTO customers VALUES (1), (2);"
                 "CREATE TABLE orders (id int PRIMARY KEY, customer_id int);"
                 "INSERT INTO orders SELECT g, 1 + g % 2 FROM generate_series(1, 500) g")
    with migration() as op:
        op.add_foreign_key_safely("fk_orders_customer", "orders", "customers", ["customer_id"], ["id"],
                                  ondelete="set  null")
        op.add_foreign_key_safely("fk_orders_customer", "orders", "customers", ["customer_id"], ["id"])  # rerun
    assert ("fk_orders_customer", "f", True) in constraints(conn, "orders")
    assert "ON DELETE SET NULL" in conn.execute(
        "SELECT pg_get_constraintdef(oid) FROM pg_constraint WHERE conname = 'fk_orders_customer'").fetchone()[0]
    gap = between(recorder, "ALTER TABLE public.orders ADD CONSTRAINT fk_orders_customer",
                  "ALTER TABLE public.orders VALIDATE CONSTRAINT fk_orders_customer")
    assert gap[0] == "COMMIT" and gap[-3:] == ["BEGIN", "SET LOCAL lock_timeout = '0ms'", gap[-1]]
    assert gap[-1].startswith("SET LOCAL statement_timeout")
    assert sum(s.startswith("ALTER TABLE public.orders ADD CONSTRAINT") for s in recorder) == 1


def test_foreign_key_violation_keeps_the_not_valid_constraint(conn, migration):
    conn.execute("CREATE TABLE p (id int PRIMARY KEY); CREATE TABLE c (id int PRIMARY KEY, p_id int);"
                 "INSERT INTO p VALUES (1); INSERT INTO c VALUES (1, 1), (2, 99)")
    with pytest.raises(sa.exc.IntegrityError):
        with migration() as op:
            op.add_foreign_key_safely("fk_c_p", "c", "p", ["p_id"], ["id"])
    assert ("fk_c_p", "f", False) in constraints(conn, "c")  # enforced for new rows, not yet validated
    conn.execute("DELETE FROM c WHERE id = 2")
    with migration() as op:
        op.validate_constraint("fk_c_p", "c")
    assert ("fk_c_p", "f", True) in constraints(conn, "c")


def test_bad_keyword_is_rejected_not_concatenated(migration, conn):
    conn.execute("CREATE TABLE p (id int PRIMARY KEY); CREATE TABLE c (p_id int)")
    with pytest.raises(ValueError, match="ondelete"):
        with migration() as op:
            op.add_foreign_key_safely("fk", "c", "p", ["p_id"], ["id"], ondelete="CASCADE; DROP TABLE p")


def test_check_constraint_safely_and_validate_only_once(conn, migration, recorder):
    conn.execute("CREATE TABLE t (id int PRIMARY KEY, qty int); INSERT INTO t SELECT g, g FROM generate_series(1, 100) g")
    with migration() as op:
        op.add_check_constraint_safely("ck_qty_positive", "t", sa.column("qty") > 0)
        op.add_check_constraint_safely("ck_qty_positive", "t", "qty > 0")
        op.validate_constraint("ck_qty_positive", "t")
    assert ("ck_qty_positive", "c", True) in constraints(conn, "t")
    assert sum("VALIDATE CONSTRAINT" in s for s in recorder) == 1
    assert "ALTER TABLE public.t ADD CONSTRAINT ck_qty_positive CHECK (qty > 0) NOT VALID" in recorder


def test_check_without_validate(conn, migration):
    conn.execute("CREATE TABLE t (id int PRIMARY KEY, qty int); INSERT INTO t VALUES (1, -1)")
    with migration() as op:
        op.add_check_constraint_safely("ck", "t", "qty > 0", validate=False)
    assert ("ck", "c", False) in constraints(conn, "t")
    with pytest.raises(GuardError, match="does not exist"):
        with migration() as op:
            op.validate_constraint("nope", "t")


# -- NOT NULL ------------------------------------------------------------------------------------

def test_pg18_native_not_null_facts(conn):
    """Pins what PostgreSQL 18 does with ADD CONSTRAINT … NOT NULL … NOT VALID and a later SET NOT NULL."""
    if conn.info.server_version < 180000:
        pytest.skip("PostgreSQL 18 feature")
    conn.execute("CREATE TABLE t (id int PRIMARY KEY, a int); INSERT INTO t SELECT g, g FROM generate_series(1, 5000) g")
    conn.execute("ALTER TABLE t ADD CONSTRAINT t_a_not_null NOT NULL a NOT VALID")
    assert conn.execute("SELECT attnotnull FROM pg_attribute WHERE attrelid = 't'::regclass "
                        "AND attname = 'a'").fetchone()[0] is True  # set already by the NOT VALID step
    conn.execute("ALTER TABLE t VALIDATE CONSTRAINT t_a_not_null")
    xact_scans = "SELECT seq_scan FROM pg_stat_xact_user_tables WHERE relid = 't'::regclass"
    with conn.transaction():  # the xact view also holds not yet flushed counts: compare within it
        before = conn.execute(xact_scans).fetchone()[0]
        conn.execute("ALTER TABLE t ALTER COLUMN a SET NOT NULL")
        after = conn.execute(xact_scans).fetchone()[0]
    assert after == before  # no scan: a no-op after VALIDATE
    conn.execute("ALTER TABLE t ADD COLUMN b int DEFAULT 0")
    with conn.transaction():  # control: a plain SET NOT NULL does scan
        before = conn.execute(xact_scans).fetchone()[0]
        conn.execute("ALTER TABLE t ALTER COLUMN b SET NOT NULL")
        assert conn.execute(xact_scans).fetchone()[0] == before + 1
    assert ("t_a_not_null", "n", True) in constraints(conn, "t")  # keeps the constraint and its name


def test_set_not_null_native(conn, migration, recorder):
    if conn.info.server_version < 180000:
        pytest.skip("PostgreSQL 18 feature")
    conn.execute("CREATE TABLE t (id int PRIMARY KEY, a int); INSERT INTO t SELECT g, g FROM generate_series(1, 1000) g")
    with migration() as op:
        op.set_not_null_safely("t", "a")
        op.set_not_null_safely("t", "a")
    assert ("t_a_not_null", "n", True) in constraints(conn, "t")
    gap = between(recorder, "ALTER TABLE public.t ADD CONSTRAINT t_a_not_null NOT NULL a NOT VALID",
                  "ALTER TABLE public.t VALIDATE CONSTRAINT t_a_not_null")
    assert "COMMIT" in gap
    assert not any("SET NOT NULL" in s for s in recorder)


def test_set_not_null_check_route(conn, migration, recorder):
    conn.execute("CREATE TABLE t (id int PRIMARY KEY, a int); INSERT INTO t SELECT g, g FROM generate_series(1, 1000) g")
    with migration() as op:
        op.set_not_null_safely("t", "a", method="check")
    assert conn.execute("SELECT attnotnull FROM pg_attribute WHERE attrelid = 't'::regclass "
                        "AND attname = 'a'").fetchone()[0] is True
    assert "t_a_not_null_chk" not in [c[0] for c in constraints(conn, "t")]  # helper dropped
    statements = [s for s in recorder if s.startswith("ALTER TABLE")]
    assert statements == [
        "ALTER TABLE public.t ADD CONSTRAINT t_a_not_null_chk CHECK (a IS NOT NULL) NOT VALID",
        "ALTER TABLE public.t VALIDATE CONSTRAINT t_a_not_null_chk",
        "ALTER TABLE public.t ALTER COLUMN a SET NOT NULL",
        "ALTER TABLE public.t DROP CONSTRAINT IF EXISTS t_a_not_null_chk",
    ]
    assert between(recorder, statements[1], statements[2])[0] == "COMMIT"


@pytest.mark.parametrize("method", ["auto", "check"])
def test_set_not_null_with_nulls_fails_then_resumes_after_backfill(conn, migration, method):
    conn.execute("CREATE TABLE t (id int PRIMARY KEY, a int); INSERT INTO t SELECT g, NULLIF(g, 7) FROM generate_series(1, 100) g")
    with pytest.raises(sa.exc.IntegrityError):
        with migration() as op:
            op.set_not_null_safely("t", "a", method=method)
    conn.execute("UPDATE t SET a = 7 WHERE id = 7")
    with migration() as op:
        op.set_not_null_safely("t", "a", method=method)
    assert conn.execute("SELECT attnotnull FROM pg_attribute WHERE attrelid = 't'::regclass "
                        "AND attname = 'a'").fetchone()[0] is True
    assert all(valid for _, _, valid in constraints(conn, "t"))
    assert not [c for c in constraints(conn, "t") if c[1] == "c"]


# -- USING INDEX -----------------------------------------------------------------------------------

def test_unique_constraint_using_index(conn, migration, recorder):
    conn.execute("CREATE TABLE t (id int PRIMARY KEY, email text); INSERT INTO t SELECT g, 'u' || g FROM generate_series(1, 500) g")
    with migration() as op:
        op.add_unique_constraint_using_index("uq_t_email", "t", ["email"])
        op.add_unique_constraint_using_index("uq_t_email", "t", ["email"])
    assert ("uq_t_email", "u", True) in constraints(conn, "t")
    assert "CREATE UNIQUE INDEX CONCURRENTLY IF NOT EXISTS uq_t_email ON public.t (email)" in recorder
    assert "ALTER TABLE public.t ADD CONSTRAINT uq_t_email UNIQUE USING INDEX uq_t_email" in recorder


def test_primary_key_using_index_on_nullable_column(conn, migration, recorder):
    conn.execute("CREATE TABLE t (a int, b text); INSERT INTO t SELECT g, 'x' || g FROM generate_series(1, 500) g")
    with migration() as op:
        op.add_primary_key_using_index("t_pkey", "t", ["a", "b"])
    assert ("t_pkey", "p", True) in constraints(conn, "t")
    pk = [s for s in recorder if "PRIMARY KEY USING INDEX" in s]
    assert pk == ["ALTER TABLE public.t ADD CONSTRAINT t_pkey PRIMARY KEY USING INDEX t_pkey"]
    i = recorder.index(pk[0])
    validates = [j for j, s in enumerate(recorder) if "VALIDATE CONSTRAINT" in s]
    assert len(validates) == 2 and max(validates) < i  # both columns NOT NULL before USING INDEX


def test_using_index_on_partitioned_table_is_refused(conn, migration):
    conn.execute("CREATE TABLE p (id int NOT NULL) PARTITION BY RANGE (id)")
    with pytest.raises(GuardError, match="partitioned"):
        with migration() as op:
            op.add_unique_constraint_using_index("uq", "p", ["id"])
