"""Raw SQL rewrites go through pglast's tree and printer; the results are valid SQL."""

from __future__ import annotations

import pytest

from alembic_guard.rewrite.facts import Facts
from alembic_guard.recipes import Refusal as Unsupported
from alembic_guard.rewrite.sqlrewrite import parse_all, render_steps, rewrite_sql

CASES = [
    ("CREATE INDEX ix_a ON t (a) WHERE a > 1",
     ["DROP INDEX CONCURRENTLY IF EXISTS ix_a", "CREATE INDEX CONCURRENTLY ix_a ON t (a) WHERE a > 1"]),
    ('CREATE UNIQUE INDEX "Ix" ON s.t (lower(a))',
     ['DROP INDEX CONCURRENTLY IF EXISTS s."Ix"', 'CREATE UNIQUE INDEX CONCURRENTLY "Ix" ON s.t ((lower(a)))']),
    ("DROP INDEX ix_a, s.ix_b", ["DROP INDEX CONCURRENTLY IF EXISTS ix_a", "DROP INDEX CONCURRENTLY IF EXISTS s.ix_b"]),
    ("REINDEX TABLE t", ["REINDEX (CONCURRENTLY) TABLE t"]),
    ("ALTER TABLE t DETACH PARTITION t_1", ["ALTER TABLE t DETACH PARTITION t_1 CONCURRENTLY"]),
    ("ALTER TABLE o ADD CONSTRAINT ck CHECK (a > 0)",
     ["ALTER TABLE o ADD CONSTRAINT ck CHECK (a > 0) NOT VALID", "ALTER TABLE o VALIDATE CONSTRAINT ck"]),
    ("REFRESH MATERIALIZED VIEW mv", ["REFRESH MATERIALIZED VIEW CONCURRENTLY mv"]),
]


@pytest.mark.parametrize("sql, expected", CASES)
def test_rewrites(sql, expected):
    rw = rewrite_sql(sql, server_version_num=180000, matview_has_unique_index=lambda n: True,
                     has_default_partition=lambda t: False)
    assert [s.sql for s in rw.steps] == expected
    assert all(parse_all(s.sql) for s in rw.steps)
    # the statement is read fresh each time (no shared, mutated parse tree)
    assert [s.sql for s in rewrite_sql(sql, server_version_num=180000, matview_has_unique_index=lambda n: True,
                                        has_default_partition=lambda t: False).steps] == expected


@pytest.mark.parametrize("sql", ["SELECT 1", "ALTER TABLE t ADD CONSTRAINT c CHECK (a > 0) NOT VALID",
                                 "REFRESH MATERIALIZED VIEW mv WITH NO DATA", "ANALYZE t"])
def test_already_online_or_unknown(sql):
    assert rewrite_sql(sql, server_version_num=180000) is None


@pytest.mark.parametrize("sql, expected", [
    # online, but refused inside the migration transaction (SQLSTATE 25001): moved out of it, with a
    # leftover of a failed build dropped first
    ("CREATE INDEX CONCURRENTLY ix ON t (a)",
     ["DROP INDEX CONCURRENTLY IF EXISTS ix", "CREATE INDEX CONCURRENTLY ix ON t (a)"]),
    ("DROP INDEX CONCURRENTLY ix", ["DROP INDEX CONCURRENTLY IF EXISTS ix"]),
    ("REINDEX (CONCURRENTLY) INDEX s.ix", ["REINDEX (CONCURRENTLY) INDEX s.ix"]),
    ("ALTER TABLE t DETACH PARTITION t_1 CONCURRENTLY", ["ALTER TABLE t DETACH PARTITION t_1 CONCURRENTLY"]),
    ("VACUUM (ANALYZE) t", ["VACUUM(ANALYZE) t"]),
])
def test_concurrently_moves_out_of_the_transaction(sql, expected):
    rw = rewrite_sql(sql, server_version_num=180000)
    assert [s.sql for s in rw.steps] == expected and all(s.autocommit for s in rw.steps)


@pytest.mark.parametrize("sql, why", [
    ("DROP INDEX ix CASCADE", "CASCADE"),
    ("VACUUM FULL t", "ACCESS EXCLUSIVE"),
    ("CLUSTER t USING ix", "ACCESS EXCLUSIVE"),
    ("REINDEX SYSTEM db", "system catalogs"),
])
def test_refused_with_a_reason_and_plan(sql, why):
    from alembic_guard.recipes import Refusal

    with pytest.raises(Refusal, match=why) as exc:
        rewrite_sql(sql, server_version_num=180000)
    assert exc.value.plan or "system" in why


@pytest.mark.parametrize("sql, why", [
    ("CREATE INDEX ON t (a)", "no name"),
    ("REFRESH MATERIALIZED VIEW mv", "unique index"),
    ("ALTER TABLE t ADD CHECK (a > 0)", "no name"),
])
def test_refused(sql, why):
    with pytest.raises(Unsupported, match=why):
        rewrite_sql(sql, server_version_num=180000, matview_has_unique_index=lambda n: False)


def test_detach_with_default_partition_is_refused():
    with pytest.raises(Unsupported, match="DEFAULT partition"):
        rewrite_sql("ALTER TABLE t DETACH PARTITION t_1", server_version_num=180000,
                    has_default_partition=lambda t: True)


def test_add_column_with_a_volatile_default():  # the add-column recipe, through the parser
    rw = rewrite_sql("ALTER TABLE o ADD COLUMN p uuid DEFAULT gen_random_uuid() NOT NULL", Facts(rewritten={"o"}))
    code = render_steps(rw.steps)
    assert '"ALTER TABLE o ADD COLUMN IF NOT EXISTS p uuid",' in code
    assert '"ALTER TABLE o ALTER COLUMN p SET DEFAULT gen_random_uuid()",' in code
    assert 'op.set_not_null_safely("o", "p")' in code and "op.backfill(" in code
    # an inline constraint is the constraint recipes' case; a default that did not rewrite needs nothing
    unique = rewrite_sql("ALTER TABLE o ADD COLUMN p int UNIQUE", Facts(rewritten={"o"}))
    assert any("CREATE UNIQUE INDEX CONCURRENTLY" in s.sql for s in unique.steps)
    assert rewrite_sql("ALTER TABLE o ADD COLUMN p int DEFAULT 0", Facts(rewritten=set())) is None


def test_rewriting_type_change_is_refused_with_the_real_types_and_indexes():
    from alembic_guard.model import TableFacts

    facts = Facts(rewritten={"o"}, tables={"o": TableFacts(
        columns={"id": "integer", "n": "integer"}, not_null={"n"},
        indexes={"ix_n": "CREATE INDEX ix_n ON public.o USING btree (n) WHERE (n > 0)"})})
    with pytest.raises(Unsupported, match="rewrites o") as refused:
        rewrite_sql("ALTER TABLE o ALTER COLUMN n TYPE bigint USING n + 1", facts)
    plan = "\n".join(step.code for step in refused.value.plan)
    assert "ADD COLUMN IF NOT EXISTS n_new bigint" in plan and "NEW.n_new := new.n + 1;" in plan
    assert 'op.backfill("o", {"n_new": "n + 1"})' in plan and 'op.set_not_null_safely("o", "n_new")' in plan
    assert "CREATE INDEX CONCURRENTLY IF NOT EXISTS ix_n_new ON public.o (n_new) WHERE n_new > 0" in plan


def _facts():
    from alembic_guard.model import TableFacts
    from alembic_guard.rewrite.facts import Facts

    return Facts(server_version_num=180000, relkind=lambda t: "p" if t in ("m", "l") else "r", tables={
        "m": TableFacts(kind="p", partition_key="RANGE (a, b)"),
        "l": TableFacts(kind="p", partition_key="LIST (region)"),
        "t": TableFacts(columns={"a": "integer", "b": "integer"}, not_null={"b"}),
    })


@pytest.mark.parametrize("sql, expected", [
    ("ALTER TABLE t ADD CONSTRAINT u UNIQUE (a) INCLUDE (b) DEFERRABLE",
     ["DROP INDEX CONCURRENTLY IF EXISTS u", "CREATE UNIQUE INDEX CONCURRENTLY u ON t (a) INCLUDE (b)",
      "ALTER TABLE t ADD CONSTRAINT u UNIQUE USING INDEX u DEFERRABLE"]),
    ("ALTER TABLE t ADD PRIMARY KEY (b)",  # b is NOT NULL in the catalog: no NOT NULL steps
     ["DROP INDEX CONCURRENTLY IF EXISTS t_pkey", "CREATE UNIQUE INDEX CONCURRENTLY t_pkey ON t (b)",
      "ALTER TABLE t ADD CONSTRAINT t_pkey PRIMARY KEY USING INDEX t_pkey"]),
    ("ALTER TABLE t ALTER COLUMN a SET NOT NULL",
     ["ALTER TABLE t ADD CONSTRAINT t_a_not_null_chk CHECK (a IS NOT NULL) NOT VALID",
      "ALTER TABLE t VALIDATE CONSTRAINT t_a_not_null_chk", "ALTER TABLE t ALTER COLUMN a SET NOT NULL",
      "ALTER TABLE t DROP CONSTRAINT t_a_not_null_chk"]),
    ("ALTER TABLE t ADD COLUMN c int REFERENCES p (id)",
     ["ALTER TABLE t ADD COLUMN c integer, ADD CONSTRAINT t_c_fkey FOREIGN KEY (c) REFERENCES p (id) NOT VALID",
      "ALTER TABLE t VALIDATE CONSTRAINT t_c_fkey"]),
    ("ALTER TABLE m ATTACH PARTITION c FOR VALUES FROM (1, MINVALUE) TO (5, MAXVALUE)",
     ["ALTER TABLE c ADD CONSTRAINT c_partition_bound CHECK (a IS NOT NULL AND b IS NOT NULL AND a >= 1 AND a <= 5) "
      "NOT VALID", "ALTER TABLE c VALIDATE CONSTRAINT c_partition_bound",
      "ALTER TABLE m ATTACH PARTITION c FOR VALUES FROM (1, minvalue) TO (5, maxvalue)",
      "ALTER TABLE c DROP CONSTRAINT c_partition_bound"]),
    ("ALTER TABLE l ATTACH PARTITION c FOR VALUES IN ('eu', 'uk')",
     ["ALTER TABLE c ADD CONSTRAINT c_partition_bound CHECK (region IS NOT NULL AND region IN ('eu', 'uk')) NOT VALID",
      "ALTER TABLE c VALIDATE CONSTRAINT c_partition_bound",
      "ALTER TABLE l ATTACH PARTITION c FOR VALUES IN ('eu', 'uk')", "ALTER TABLE c DROP CONSTRAINT c_partition_bound"]),
])
def test_recipe_rewrites_with_catalog(sql, expected):
    rw = rewrite_sql(sql, _facts())
    assert [s.sql for s in rw.steps] == expected
    assert all(parse_all(s.sql) for s in rw.steps)


@pytest.mark.parametrize("sql, why", [
    ("ALTER TABLE l ATTACH PARTITION c DEFAULT", "DEFAULT partition"),
    ("ALTER TABLE m ATTACH PARTITION c FOR VALUES WITH (MODULUS 2, REMAINDER 0)", "HASH"),
    ("ALTER TABLE m ADD CONSTRAINT u UNIQUE (a)", "partitioned"),
])
def test_recipe_refusals_carry_a_plan(sql, why):
    with pytest.raises(Unsupported, match=why) as exc:
        rewrite_sql(sql, _facts())
    assert exc.value.plan
