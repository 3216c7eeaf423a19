"""Every operation with names that need quoting: mixed case, spaces, embedded double quotes, schema=."""

from __future__ import annotations

import pytest

SCHEMA = 'Odd "Schema"'
PARENT = "Parent Table"
TABLE = 'Mixed Case "T"'

SETUP = '''
CREATE SCHEMA "Odd ""Schema""";
CREATE TABLE "Odd ""Schema"""."Parent Table" ("Key" int PRIMARY KEY);
INSERT INTO "Odd ""Schema"""."Parent Table" SELECT generate_series(1, 5);
CREATE TABLE "Odd ""Schema"""."Mixed Case ""T""" (
    "Region Code" text NOT NULL, id int NOT NULL, "Unit Price" int, "qu""ote" int, "Total Sum" bigint,
    "Parent Key" int, PRIMARY KEY ("Region Code", id));
INSERT INTO "Odd ""Schema"""."Mixed Case ""T""" SELECT CASE WHEN g % 2 = 0 THEN 'eu' ELSE 'us' END, g, g, 2, NULL,
    1 + g % 5 FROM generate_series(1, 700) g;
'''

QT = '"Odd ""Schema"""."Mixed Case ""T"""'


def test_all_operations_quote_identifiers(conn, migration):
    conn.execute(SETUP)
    with migration() as op:
        op.create_index_concurrently('ix "Unit Price"', TABLE, ["Unit Price", 'qu"ote'], schema=SCHEMA)
        op.add_check_constraint_safely('ck "qu"ote"', TABLE, '"qu""ote" > 0', schema=SCHEMA)
        op.add_foreign_key_safely("fk Parent", TABLE, PARENT, ["Parent Key"], ["Key"], schema=SCHEMA)
        result = op.backfill(TABLE, set={"Total Sum": '"Unit Price" * "qu""ote"'}, schema=SCHEMA, batch_size=100)
        op.set_not_null_safely(TABLE, "Total Sum", schema=SCHEMA)
        op.set_not_null_safely(TABLE, 'qu"ote', schema=SCHEMA, method="check")
        op.add_unique_constraint_using_index("uq Total", TABLE, ["Region Code", "Total Sum"], schema=SCHEMA)
        op.validate_constraint('ck "qu"ote"', TABLE, schema=SCHEMA)
        op.run_with_lock_timeout(f'ALTER TABLE {QT} ADD COLUMN "New Col" int')
        op.drop_index_concurrently('ix "Unit Price"', schema=SCHEMA)
    assert result.rows_updated == 700
    assert conn.execute(f'SELECT count(*) FROM {QT} WHERE "Total Sum" <> "Unit Price" * 2').fetchone()[0] == 0
    cons = dict(conn.execute("SELECT conname, convalidated FROM pg_constraint WHERE conrelid = %s::regclass",
                             [QT]).fetchall())
    assert cons['ck "qu"ote"'] and cons["fk Parent"] and cons["uq Total"]
    assert conn.execute("SELECT attname FROM pg_attribute WHERE attrelid = %s::regclass AND attnotnull "
                        "AND attnum > 0 ORDER BY attnum", [QT]).fetchall() == [
        ("Region Code",), ("id",), ('qu"ote',), ("Total Sum",)]
    assert conn.execute("SELECT to_regclass(%s)", ['"Odd ""Schema"""."ix ""Unit Price"""']).fetchone()[0] is None


def test_partitioned_index_with_odd_names(conn, migration):
    conn.execute('CREATE TABLE "Ev ents" ("At" date NOT NULL, "V" int) PARTITION BY RANGE ("At");'
                 'CREATE TABLE "Ev ents 1" PARTITION OF "Ev ents" FOR VALUES FROM (\'2024-01-01\') TO (\'2025-01-01\');'
                 "INSERT INTO \"Ev ents\" SELECT date '2024-01-01' + g % 300, g FROM generate_series(1, 100) g")
    with migration() as op:
        op.create_index_concurrently('ix "V"', "Ev ents", ["V"])
    assert conn.execute("SELECT indisvalid FROM pg_index WHERE indexrelid = to_regclass(%s)",
                        ['"ix ""V"""']).fetchone()[0] is True
    assert conn.execute("SELECT indisvalid FROM pg_index WHERE indexrelid = to_regclass(%s)",
                        ['"Ev ents 1_V_idx"']).fetchone()[0] is True  # PostgreSQL's own name for it


def test_an_identifier_is_never_spliced_as_sql(conn, migration):
    conn.execute("CREATE TABLE t (id int PRIMARY KEY, a int)")
    with pytest.raises(Exception) as info:
        with migration() as op:
            op.create_index_concurrently("ix", "t", ["a); DROP TABLE t; --"])
    assert 'column "a); DROP TABLE t; --" does not exist' in str(info.value)
    assert conn.execute("SELECT to_regclass('t') IS NOT NULL").fetchone()[0]
