"""Pin the FACTS.md rows the rules rely on, observed through the tracer on the real shadow server.

The shadow's tables are (nearly) empty, so size-dependent facts come from the trace flags
(relfilenode changed = rewrite, pg_stat_xact_user_tables.seq_scan grew = full scan), never from
durations. The first tests show those flags do not depend on the table having rows.
"""

from __future__ import annotations

import pytest

from helpers import SCHEMA, SEED, describe


def ex(sql: str) -> str:
    return f"op.execute({sql!r})"


def locks(rev, index=-1) -> dict[str, str]:
    """The strongest mode held on each relation after the statement (a backend can hold several)."""
    from alembic_guard.locks import LOCK_STRENGTH

    out: dict[str, str] = {}
    for lk in rev.statements[index].observation.locks:
        if LOCK_STRENGTH[lk.mode] >= LOCK_STRENGTH.get(out.get(lk.relation, ""), -1):
            out[lk.relation] = lk.mode
    return out


def obs(rev, index=-1):
    return rev.statements[index].observation


@pytest.mark.parametrize("seeded", [False, True], ids=["empty", "one-row"])
def test_empty_tables_show_the_same_scan_flag(run, seeded):
    rev = run(ex("ALTER TABLE t ALTER COLUMN a SET NOT NULL"), setup=SCHEMA + (SEED if seeded else ""))
    assert obs(rev).seq_scans == ["t"], describe(rev)  # seq_scan counts a scan of an empty heap too


@pytest.mark.parametrize("seeded", [False, True], ids=["empty", "one-row"])
def test_empty_tables_show_the_same_rewrite_flag(run, seeded):
    rev = run(ex("ALTER TABLE t ADD COLUMN u uuid DEFAULT gen_random_uuid()"), setup=SCHEMA + (SEED if seeded else ""))
    assert "t" in obs(rev).rewritten, describe(rev)  # relfilenode changes for an empty heap too


@pytest.mark.parametrize("column, rewrites", [
    ("c uuid DEFAULT gen_random_uuid()", True),
    ("c timestamptz DEFAULT clock_timestamp()", True),
    ("c float8 DEFAULT random()", True),
    ("c int GENERATED ALWAYS AS (a * 2) STORED", True),
    ("c bigserial", True),
    ("c int GENERATED ALWAYS AS IDENTITY", True),
    ("c int DEFAULT 0 NOT NULL", False),
    ("c timestamptz DEFAULT now()", False),
    ("c jsonb DEFAULT '{}'::jsonb NOT NULL", False),
    ("c int GENERATED ALWAYS AS (a * 2) VIRTUAL", False),  # PostgreSQL 18
    ("c int", False),
])
def test_add_column_rewrite(run, column, rewrites):
    rev = run(ex(f"ALTER TABLE t ADD COLUMN {column}"))
    o = obs(rev)
    assert ("t" in o.rewritten) is rewrites, describe(rev)
    assert locks(rev)["t"] == "ACCESS EXCLUSIVE"
    if rewrites:
        assert {"t_pkey", "t_a"} <= set(o.rewritten)  # indexes are rebuilt too


def test_add_column_inline_check_scans_without_rewrite(run):
    rev = run(ex("ALTER TABLE t ADD COLUMN c int CHECK (c > 0)"))
    assert obs(rev).seq_scans == ["t"] and obs(rev).rewritten == [], describe(rev)


def test_add_column_inline_references_does_not_scan(run):
    # Surprise vs FACTS.md: the new column is all NULL, PostgreSQL skips the FK validation scan.
    rev = run(ex("ALTER TABLE t ADD COLUMN c int REFERENCES parent (id)"))
    assert obs(rev).seq_scans == [], describe(rev)
    assert locks(rev)["t"] == "ACCESS EXCLUSIVE" and locks(rev)["parent"] == "SHARE ROW EXCLUSIVE"


def test_set_not_null_scans_unless_a_validated_check_exists(run):
    rev = run([ex("ALTER TABLE t ADD CONSTRAINT t_a_nn CHECK (a IS NOT NULL)"),
               ex("ALTER TABLE t ALTER COLUMN a SET NOT NULL")], all_revisions=True)
    first, second = rev
    assert obs(first).seq_scans == ["t"]  # validating the CHECK scans
    assert obs(second).seq_scans == [], describe(second)  # SET NOT NULL uses the validated CHECK
    assert locks(second)["t"] == "ACCESS EXCLUSIVE"


def test_set_not_null_with_a_not_valid_check_still_scans(run):
    rev = run([ex("ALTER TABLE t ADD CONSTRAINT t_a_nn CHECK (a IS NOT NULL) NOT VALID"),
               ex("ALTER TABLE t ALTER COLUMN a SET NOT NULL")])
    assert obs(rev).seq_scans == ["t"], describe(rev)


def test_pg18_not_null_not_valid_does_not_scan(run, shadow):
    if shadow.version_num < 180000:
        pytest.skip("ADD CONSTRAINT … NOT NULL … NOT VALID is PostgreSQL 18")
    rev = run(ex("ALTER TABLE t ADD CONSTRAINT t_a_nn NOT NULL a NOT VALID"))
    assert obs(rev).seq_scans == [], describe(rev)


def test_add_foreign_key_takes_share_row_exclusive_on_both_tables_and_scans(run):
    rev = run(ex("ALTER TABLE t ADD CONSTRAINT t_pid_fk FOREIGN KEY (pid) REFERENCES parent (id)"))
    assert locks(rev)["t"] == "SHARE ROW EXCLUSIVE" and locks(rev)["parent"] == "SHARE ROW EXCLUSIVE"
    assert "t" in obs(rev).seq_scans, describe(rev)


def test_add_foreign_key_not_valid_does_not_scan_and_validate_takes_sue(run):
    add, val = run([ex("ALTER TABLE t ADD CONSTRAINT t_pid_fk FOREIGN KEY (pid) REFERENCES parent (id) NOT VALID"),
                    ex("ALTER TABLE t VALIDATE CONSTRAINT t_pid_fk")], all_revisions=True)  # its own transaction
    assert obs(add).seq_scans == [], describe(add)
    assert "t" in obs(val).seq_scans
    assert locks(val)["t"] == "SHARE UPDATE EXCLUSIVE" and locks(val)["parent"] == "ROW SHARE", describe(val)


def test_add_check_takes_access_exclusive_and_scans(run):
    rev = run(ex("ALTER TABLE t ADD CONSTRAINT t_a_pos CHECK (a > 0)"))
    assert locks(rev)["t"] == "ACCESS EXCLUSIVE" and obs(rev).seq_scans == ["t"]


def test_add_unique_builds_the_index_under_access_exclusive(run):
    rev = run(ex("ALTER TABLE t ADD CONSTRAINT t_a_key UNIQUE (a)"))
    assert locks(rev)["t"] == "ACCESS EXCLUSIVE" and "t_a_key" in obs(rev).created
    assert "t" in obs(rev).seq_scans


@pytest.mark.parametrize("change, rewrites", [
    ("a TYPE bigint", True),
    ("b TYPE varchar(50)", True),
    ("j TYPE jsonb", True),
    ("b TYPE varchar(200)", False),
    ("b TYPE text", False),
    ("n TYPE numeric(12, 2)", False),
    ("ts TYPE timestamptz", False),  # only because the shadow's TimeZone is UTC
])
def test_alter_column_type_rewrite(run, change, rewrites):
    rev = run(ex(f"ALTER TABLE t ALTER COLUMN {change}"))
    assert ("t" in obs(rev).rewritten) is rewrites, describe(rev)
    assert locks(rev)["t"] == "ACCESS EXCLUSIVE"
    if not rewrites:
        assert obs(rev).seq_scans == []


def test_shadow_timezone_is_utc(conn):
    assert conn.execute("show timezone").fetchone()[0] in ("UTC", "Etc/UTC")


def test_create_index_takes_share(run):
    rev = run(ex("CREATE INDEX t_b ON t (b)"))
    assert locks(rev)["t"] == "SHARE" and "t" in obs(rev).seq_scans


@pytest.mark.parametrize("sql", ["CREATE INDEX CONCURRENTLY t_b ON t (b)", "DROP INDEX CONCURRENTLY t_a",
                                 "REINDEX INDEX CONCURRENTLY t_a", "VACUUM FULL t"])
def test_concurrently_in_a_transaction_fails_with_25001(run, sql):
    rev = run(ex(sql), allow_error=True)
    assert rev.error and obs(rev).sqlstate == "25001", describe(rev)
    assert rev.statements[-1].in_transaction


def test_concurrently_in_autocommit_block_runs_outside_the_transaction(run):
    rev = run("with op.get_context().autocommit_block():\n    op.execute('CREATE INDEX CONCURRENTLY t_b ON t (b)')")
    assert rev.statements[-1].in_transaction is False and obs(rev).error is None


def test_drop_index_takes_access_exclusive_on_the_table(run):
    rev = run(ex("DROP INDEX t_a"))
    assert locks(rev)["t"] == "ACCESS EXCLUSIVE"


def test_reindex_takes_share_on_table_and_access_exclusive_on_indexes(run):
    rev = run(ex("REINDEX TABLE t"))
    assert locks(rev)["t"] == "SHARE" and locks(rev)["t_a"] == "ACCESS EXCLUSIVE"
    assert {"t_a", "t_pkey"} <= set(obs(rev).rewritten)


PARTITIONS = """
CREATE TABLE m (id int, k int) PARTITION BY RANGE (k);
CREATE TABLE m_default PARTITION OF m DEFAULT;
CREATE TABLE m_2 PARTITION OF m FOR VALUES FROM (100) TO (200);
CREATE TABLE m_1 (id int, k int);
INSERT INTO m_1 VALUES (1, 5);
"""


def test_attach_partition_scans_partition_and_default(run):
    rev = run(ex("ALTER TABLE m ATTACH PARTITION m_1 FOR VALUES FROM (0) TO (100)"), setup=PARTITIONS)
    assert set(obs(rev).seq_scans) == {"m_1", "m_default"}, describe(rev)
    assert locks(rev)["m"] == "SHARE UPDATE EXCLUSIVE" and locks(rev)["m_1"] == "ACCESS EXCLUSIVE"


def test_attach_partition_with_validated_check_skips_the_partition_scan(run):
    rev = run(ex("ALTER TABLE m ATTACH PARTITION m_1 FOR VALUES FROM (0) TO (100)"), setup=PARTITIONS,
              extra="ALTER TABLE m_1 ADD CONSTRAINT b CHECK (k IS NOT NULL AND k >= 0 AND k < 100);")
    assert "m_1" not in obs(rev).seq_scans, describe(rev)


def test_detach_partition_takes_access_exclusive_on_parent(run):
    rev = run(ex("ALTER TABLE m DETACH PARTITION m_2"), setup=PARTITIONS)
    assert locks(rev)["m"] == "ACCESS EXCLUSIVE"


def test_alter_domain_add_constraint_takes_share_and_scans(run):
    rev = run(ex("ALTER DOMAIN posint ADD CONSTRAINT posint_pos CHECK (VALUE > 0)"),
              setup="CREATE DOMAIN posint AS int; CREATE TABLE d (id int, v posint); INSERT INTO d VALUES (1, 1);")
    assert locks(rev)["d"] == "SHARE" and obs(rev).seq_scans == ["d"]


@pytest.mark.parametrize("sql, relation", [
    ("TRUNCATE t CASCADE", "t"),
    ("ALTER TABLE t SET UNLOGGED", "t"),
    ("CLUSTER t USING t_pkey", "t"),
    ("REFRESH MATERIALIZED VIEW mv", "mv"),
])
def test_rewrites_under_access_exclusive(run, sql, relation):
    rev = run(ex(sql), extra="CREATE MATERIALIZED VIEW mv AS SELECT id FROM t;")
    assert relation in obs(rev).rewritten and locks(rev)[relation] == "ACCESS EXCLUSIVE", describe(rev)


def test_drop_table_locks_the_referenced_table(run):
    rev = run(ex("DROP TABLE child"))
    assert locks(rev)["parent"] == "ACCESS EXCLUSIVE", describe(rev)


def test_create_trigger_takes_share_row_exclusive(run):
    rev = run(ex("CREATE TRIGGER t_sru BEFORE UPDATE ON t FOR EACH ROW "
                 "EXECUTE FUNCTION suppress_redundant_updates_trigger()"))
    assert locks(rev)["t"] == "SHARE ROW EXCLUSIVE"


def test_alter_type_add_value_locks_no_table(run):
    rev = run(ex("ALTER TYPE mood ADD VALUE 'happy'"))
    assert not [lk for lk in obs(rev).locks if lk.kind in ("r", "p")], describe(rev)


# -- facts for lock-table, domain-constraint-scans-tables, disable-trigger, rls-access-widened,
#    grant-to-public, publication-identity-changed, concurrent-index-invalid-leftover ------------

@pytest.mark.parametrize("sql, mode", [
    ("LOCK TABLE t", "ACCESS EXCLUSIVE"),  # LOCK TABLE's default mode
    ("LOCK TABLE t IN SHARE MODE", "SHARE"),
    ("LOCK TABLE t IN ROW EXCLUSIVE MODE", "ROW EXCLUSIVE"),
])
def test_lock_table_mode(run, sql, mode):
    rev = run(ex(sql))
    assert locks(rev)["t"] == mode, describe(rev)


def test_lock_table_is_held_until_commit(run):
    rev = run("\n".join(ex(s) for s in ("LOCK TABLE t", "SELECT 1", "SELECT 2")))
    assert locks(rev, -1)["t"] == "ACCESS EXCLUSIVE", describe(rev)
    (lk,) = [lk for lk in obs(rev, 0).new_locks if lk.relation == "t"]
    assert lk.held_statements == 3


DOMAIN = "CREATE DOMAIN posint AS int; CREATE TABLE d (id int, v posint); INSERT INTO d VALUES (1, 1);"


def test_alter_domain_not_valid_locks_and_scans_no_table_but_validate_takes_share(run, shadow):
    add, val = run([ex("ALTER DOMAIN posint ADD CONSTRAINT posint_pos CHECK (VALUE > 0) NOT VALID"),
                    ex("ALTER DOMAIN posint VALIDATE CONSTRAINT posint_pos")], setup=DOMAIN, all_revisions=True)
    assert "d" not in locks(add) and obs(add).seq_scans == [], describe(add)
    assert "d" in obs(val).seq_scans, describe(val)
    if shadow.version_num < 190000:  # PostgreSQL 19 lowers VALIDATE's lock
        assert locks(val)["d"] == "SHARE", describe(val)


@pytest.mark.parametrize("what", ["ALL", "USER", "child_trg"])
def test_disable_trigger_takes_share_row_exclusive(run, what):
    rev = run(ex(f"ALTER TABLE child DISABLE TRIGGER {what}"),
              extra="CREATE TRIGGER child_trg BEFORE UPDATE ON child FOR EACH ROW "
                    "EXECUTE FUNCTION suppress_redundant_updates_trigger();")
    assert locks(rev)["child"] == "SHARE ROW EXCLUSIVE", describe(rev)


def test_disable_trigger_all_lets_a_row_violating_a_foreign_key_in(conn):
    import psycopg

    conn.execute(SCHEMA + SEED)
    with pytest.raises(psycopg.errors.ForeignKeyViolation):
        conn.execute("INSERT INTO child VALUES (2, 999)")
    conn.execute("ALTER TABLE child DISABLE TRIGGER USER")  # user triggers only: the FK is still enforced
    with pytest.raises(psycopg.errors.ForeignKeyViolation):
        conn.execute("INSERT INTO child VALUES (2, 999)")
    conn.execute("ALTER TABLE child DISABLE TRIGGER ALL")
    conn.execute("INSERT INTO child VALUES (2, 999)")  # accepted: parent 999 does not exist
    conn.execute("ALTER TABLE child ENABLE TRIGGER ALL")
    # …and nothing re-checks it when the triggers come back.
    assert conn.execute("SELECT count(*) FROM child WHERE parent_id = 999").fetchone()[0] == 1
    assert conn.execute("SELECT convalidated FROM pg_constraint WHERE conname = 'child_parent_id_fkey'"
                        ).fetchone()[0] is True


@pytest.fixture
def role(conn, dbname):
    """A fresh non-superuser role (roles are cluster-wide: named after the per-test database)."""
    name = f"r_{dbname}"[:63]
    conn.execute(f'CREATE ROLE "{name}"')
    yield name
    conn.execute(f'DROP OWNED BY "{name}"')
    conn.execute(f'DROP ROLE "{name}"')


def _visible(conn, role: str) -> int:
    conn.execute(f'SET ROLE "{role}"')
    try:
        return conn.execute("SELECT count(*) FROM t").fetchone()[0]
    finally:
        conn.execute("RESET ROLE")


def test_permissive_policies_are_ored_restrictive_are_anded(conn, role):
    conn.execute(SCHEMA + "INSERT INTO t (id, a) VALUES (1, 1), (2, 2), (3, 3);"
                 f'ALTER TABLE t ENABLE ROW LEVEL SECURITY; GRANT SELECT ON t TO "{role}";'
                 "CREATE POLICY t_one ON t USING (a = 1);")
    assert _visible(conn, role) == 1
    conn.execute("CREATE POLICY t_two ON t USING (a = 2)")  # permissive: OR-ed, widens
    assert _visible(conn, role) == 2
    conn.execute("CREATE POLICY t_not_two ON t AS RESTRICTIVE USING (a <> 2)")  # AND-ed, narrows
    assert _visible(conn, role) == 1
    conn.execute("CREATE POLICY t_all ON t USING (true)")  # permissive true for PUBLIC: every row…
    assert _visible(conn, role) == 2  # …the restrictive one still applies
    # a policy without TO applies to PUBLIC (pg_policy.polroles = {0})
    assert conn.execute("SELECT polroles::text FROM pg_policy WHERE polname = 't_two'").fetchone()[0] == "{0}"


def test_grant_to_public_cannot_be_revoked_from_one_role(conn, role):
    conn.execute(SCHEMA + "GRANT SELECT ON t TO PUBLIC")
    conn.execute(f'REVOKE SELECT ON t FROM "{role}"')  # revoking from one role does not override PUBLIC
    assert conn.execute(f"SELECT has_table_privilege('{role}', 't', 'SELECT')").fetchone()[0] is True
    assert _visible(conn, role) == 0  # (allowed to read: t is empty)


def test_published_table_without_replica_identity_rejects_update_and_delete(conn):
    import psycopg

    conn.execute(SCHEMA + SEED + "CREATE PUBLICATION pub FOR TABLE t;")
    conn.execute("UPDATE t SET a = 2 WHERE id = 1")  # REPLICA IDENTITY DEFAULT: the primary key
    conn.execute("ALTER TABLE t DROP CONSTRAINT t_pkey")
    with pytest.raises(psycopg.errors.ObjectNotInPrerequisiteState,
                       match='cannot update table "t" because it does not have a replica identity and '
                             'publishes updates'):
        conn.execute("UPDATE t SET a = 3 WHERE id = 1")
    conn.execute("INSERT INTO t (id) VALUES (2)")  # INSERT needs no identity
    conn.execute("ALTER TABLE t REPLICA IDENTITY FULL")
    conn.execute("UPDATE t SET a = 3 WHERE id = 1")  # FULL works without a key
    conn.execute("ALTER TABLE t REPLICA IDENTITY NOTHING")
    with pytest.raises(psycopg.errors.ObjectNotInPrerequisiteState, match='cannot delete from table "t"'):
        conn.execute("DELETE FROM t WHERE id = 2")


def test_published_tables_list_the_publication_members(run):
    rev = run(ex("SELECT 1"), extra="CREATE PUBLICATION pub FOR TABLE t;")
    assert rev.published == {"t"} and rev.unique_keys["t"] == [("id",)], describe(rev)


def test_failed_cic_leaves_an_invalid_index_that_if_not_exists_keeps(conn):
    import psycopg

    conn.execute(SCHEMA + SEED + "INSERT INTO t (id, a) VALUES (2, 1);")  # a = 1 twice
    with pytest.raises(psycopg.errors.UniqueViolation):
        conn.execute("CREATE UNIQUE INDEX CONCURRENTLY t_a_key ON t (a)")
    valid = "SELECT indisvalid FROM pg_index WHERE indexrelid = 't_a_key'::regclass"
    assert conn.execute(valid).fetchone()[0] is False  # the failed build left it behind, INVALID
    conn.execute("DELETE FROM t WHERE id = 2")  # the cause is gone …
    conn.execute("CREATE UNIQUE INDEX CONCURRENTLY IF NOT EXISTS t_a_key ON t (a)")  # … the retry "succeeds"
    assert conn.execute(valid).fetchone()[0] is False  # … and the index is still INVALID
    with pytest.raises(psycopg.errors.DuplicateTable):  # without IF NOT EXISTS the retry fails
        conn.execute("CREATE UNIQUE INDEX CONCURRENTLY t_a_key ON t (a)")
    # It failed in the build phase, before indisready: not maintained by writes, enforces nothing (one
    # that fails later, in the validation phase, is indisready and is maintained and enforced).
    ready = "SELECT indisready FROM pg_index WHERE indexrelid = 't_a_key'::regclass"
    assert conn.execute(ready).fetchone()[0] is False
    conn.execute("INSERT INTO t (id, a) VALUES (3, 1)")  # a duplicate, accepted
    conn.execute("DELETE FROM t WHERE id = 3")
    conn.execute("DROP INDEX CONCURRENTLY IF EXISTS t_a_key")
    conn.execute("CREATE UNIQUE INDEX CONCURRENTLY t_a_key ON t (a)")
    assert conn.execute(valid).fetchone()[0] is True


def test_guard_op_checks_indisvalid_before_its_concurrent_build(run):
    rev = run('import alembic_guard.ops  # noqa: F401\nop.create_index_concurrently("t_b", "t", ["b"])')
    sqls = [st.sql for st in rev.statements]
    cic = next(i for i, s in enumerate(sqls) if s.startswith("CREATE INDEX CONCURRENTLY IF NOT EXISTS t_b"))
    assert any("indisvalid" in s and "pg_index" in s for s in sqls[:cic]), describe(rev)
