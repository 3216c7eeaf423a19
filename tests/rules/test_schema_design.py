"""Schema design rules (warning/info), each on a real revision traced on the shadow."""

from __future__ import annotations

from functools import partial

from tests import helpers
from tests.helpers import describe, findings

# these tests run the design rules the other rule tests leave out
run_one = partial(helpers.run_one, disabled=())
run_revisions = partial(helpers.run_revisions, disabled=())


def test_timestamp_json_varchar_and_int32_key_on_a_new_table(shadow, dbname, tmp_path):
    rev = run_one(shadow, dbname, tmp_path, '''
    op.create_table("orders", sa.Column("id", sa.Integer(), primary_key=True),
                    sa.Column("placed_at", sa.DateTime()), sa.Column("paid_at", sa.DateTime(timezone=True)),
                    sa.Column("meta", sa.JSON()), sa.Column("code", sa.String(12)), sa.Column("note", sa.Text()))''')
    assert [f.detail for f in findings(rev, "timestamp-without-time-zone")] == ["orders.placed_at"], describe(rev)
    assert [f.detail for f in findings(rev, "json-instead-of-jsonb")] == ["orders.meta"]
    assert [f.detail for f in findings(rev, "varchar-with-limit")] == ["orders.code"]
    assert [f.detail for f in findings(rev, "int32-primary-key")] == ["orders.id"]
    assert all(f.severity in ("warning", "info") for f in rev.findings), describe(rev)


def test_good_types_stay_quiet(shadow, dbname, tmp_path):
    rev = run_one(shadow, dbname, tmp_path, '''
    from sqlalchemy.dialects import postgresql
    op.create_table("orders", sa.Column("id", sa.BigInteger(), sa.Identity(), primary_key=True),
                    sa.Column("placed_at", sa.DateTime(timezone=True)), sa.Column("meta", postgresql.JSONB()),
                    sa.Column("code", sa.Text()))''')
    quiet = {"timestamp-without-time-zone", "json-instead-of-jsonb", "varchar-with-limit", "int32-primary-key"}
    assert not {f.rule for f in rev.findings} & quiet, describe(rev)


def test_foreign_key_without_index_and_with_one(shadow, dbname, tmp_path):
    revs = run_revisions(shadow, dbname, tmp_path, [
        '''op.create_foreign_key("fk_child_parent", "child2", "parent", ["parent_id"], ["id"])''',
        '''
    op.create_table("lines", sa.Column("id", sa.BigInteger(), primary_key=True),
                    sa.Column("order_id", sa.BigInteger(), sa.ForeignKey("parent.id")))
    op.create_index("ix_lines_order_id", "lines", ["order_id"])''',
        '''op.create_foreign_key("fk_child_parent2", "child3", "parent", ["parent_id"], ["id"])''',
    ], setup="""CREATE TABLE parent (id bigint PRIMARY KEY);
                CREATE TABLE child2 (id bigint PRIMARY KEY, parent_id bigint);
                CREATE TABLE child3 (id bigint PRIMARY KEY, parent_id bigint);
                CREATE INDEX ix_child3_parent ON child3 (parent_id, id);""")
    missing, indexed_later, indexed_before = revs
    (f,) = findings(missing, "foreign-key-without-index")
    assert "child2(parent_id)" in f.message and "CONCURRENTLY" in f.fix and "ix_child2_parent_id" in f.fix
    assert not findings(indexed_later, "foreign-key-without-index"), describe(indexed_later)
    assert not findings(indexed_before, "foreign-key-without-index"), describe(indexed_before)


def test_tenant_table_without_rls_when_the_others_have_it(shadow, dbname, tmp_path):
    setup = """CREATE TABLE accounts_data (id bigint PRIMARY KEY, tenant_id bigint NOT NULL);
               ALTER TABLE accounts_data ENABLE ROW LEVEL SECURITY;"""
    revs = run_revisions(shadow, dbname, tmp_path, [
        '''
    op.create_table("invoices", sa.Column("id", sa.BigInteger(), primary_key=True),
                    sa.Column("tenant_id", sa.BigInteger(), nullable=False))''',
        '''
    op.create_table("receipts", sa.Column("id", sa.BigInteger(), primary_key=True),
                    sa.Column("tenant_id", sa.BigInteger(), nullable=False))
    op.execute("ALTER TABLE receipts ENABLE ROW LEVEL SECURITY")''',
    ], setup=setup)
    (f,) = findings(revs[0], "tenant-table-without-rls")
    assert "invoices" in f.message and "accounts_data" in f.message
    assert not findings(revs[1], "tenant-table-without-rls"), describe(revs[1])


def test_tenant_rule_is_quiet_when_no_table_uses_rls(shadow, dbname, tmp_path):
    rev = run_one(shadow, dbname, tmp_path, '''
    op.create_table("invoices", sa.Column("id", sa.BigInteger(), primary_key=True),
                    sa.Column("tenant_id", sa.BigInteger(), nullable=False))''',
                  setup="CREATE TABLE accounts_data (id bigint PRIMARY KEY, tenant_id bigint NOT NULL)")
    assert not findings(rev, "tenant-table-without-rls"), describe(rev)


def test_missing_downgrade_is_info_on_the_downgrade_line(shadow, dbname, tmp_path):
    rev = run_one(shadow, dbname, tmp_path, 'op.execute("CREATE TABLE notes (id bigint PRIMARY KEY)")')
    (f,) = findings(rev, "missing-downgrade")
    assert f.severity == "info"
    text = open(rev.path).read().splitlines()
    assert text[f.line - 1].startswith("def downgrade"), (f.line, text)


def test_missing_downgrade_is_quiet_for_a_revision_that_changes_rows_only(shadow, dbname, tmp_path):
    rev = run_one(shadow, dbname, tmp_path, 'op.execute("SET lock_timeout = \'1s\'")\n'
                  'op.execute("UPDATE notes SET body = \'\' WHERE body IS NULL")',
                  setup="CREATE TABLE notes (id bigint PRIMARY KEY, body text)")
    assert rev.statements and not findings(rev, "missing-downgrade"), describe(rev)


def test_partitioned_table_without_default_partition_or_plan(shadow, dbname, tmp_path):
    revs = run_revisions(shadow, dbname, tmp_path, [
        # RANGE, two partitions, nothing for the months after: reported (info)
        '''
    op.execute("CREATE TABLE events (id bigint, at date NOT NULL) PARTITION BY RANGE (at)")
    op.execute("CREATE TABLE events_2026_12 PARTITION OF events FOR VALUES FROM ('2026-12-01') TO ('2027-01-01')")''',
        # LIST with a DEFAULT partition attached later in the same revision: quiet
        '''
    op.execute("CREATE TABLE sales.orders (id bigint, region text NOT NULL) PARTITION BY LIST (region)")
    op.execute("CREATE TABLE sales.orders_eu PARTITION OF sales.orders FOR VALUES IN ('eu')")
    op.execute("CREATE TABLE sales.orders_rest (id bigint, region text NOT NULL)")
    op.execute("ALTER TABLE sales.orders ATTACH PARTITION sales.orders_rest DEFAULT")''',
        # HASH covers every value; RANGE with CREATE … PARTITION OF … DEFAULT: quiet
        '''
    op.execute("CREATE TABLE h (id bigint NOT NULL) PARTITION BY HASH (id)")
    op.execute("CREATE TABLE h0 PARTITION OF h FOR VALUES WITH (MODULUS 1, REMAINDER 0)")
    op.execute("CREATE TABLE logs (id bigint, at date NOT NULL) PARTITION BY RANGE (at)")
    op.execute("CREATE TABLE logs_default PARTITION OF public.logs DEFAULT")''',
    ], setup="CREATE SCHEMA sales;")
    (f,) = findings(revs[0], "partitioned-table-without-default-partition")
    assert f.severity == "info" and "RANGE" in f.message and "events" in f.message, describe(revs[0])
    assert "events_default PARTITION OF events DEFAULT" in f.fix and "pg_partman" in f.fix
    assert "SPLIT" not in f.fix or shadow.version_num >= 190000  # MERGE/SPLIT PARTITIONS: PostgreSQL 19
    for rev in revs[1:]:
        assert rev.error is None, rev.error
        assert not findings(rev, "partitioned-table-without-default-partition"), describe(rev)


def test_partman_create_parent_is_a_plan_for_future_partitions():
    # pg_partman is not installed on the shadow: the recognition of its call is checked on the parse
    from alembic_guard.rules._partitions import partman_parent
    from alembic_guard.sql import parse_one

    call = parse_one("SELECT partman.create_parent(p_parent_table => 'public.events', p_control => 'at', "
                     "p_interval => '1 month')")
    assert partman_parent(call, "events") and not partman_parent(call, "other")
    assert partman_parent(parse_one("SELECT create_parent('events', 'at', '1 day')"), "public.events")


def test_primary_key_without_the_partition_key_is_explained(shadow, dbname, tmp_path):
    # PostgreSQL refuses it; the failed revision's report says which key columns are missing
    (rev,) = run_revisions(shadow, dbname, tmp_path, ['''
    op.create_table("measures", sa.Column("id", sa.BigInteger(), primary_key=True),
                    sa.Column("at", sa.Date(), nullable=False), postgresql_partition_by="RANGE (at)")'''])
    assert rev.error and "must include all partitioning columns" in rev.error
    (f,) = findings(rev, "partition-key-not-in-unique")
    assert "lacks the partition key column at" in f.message and "PRIMARY KEY (id, at)" in f.fix, describe(rev)
