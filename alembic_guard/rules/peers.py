"""How the rules of three peer tools map to ours; rendered to ``docs/rules/compared.md``.

Sources, read on 2026-12-02 (facts only: the ids and what each rule reports, in our own words):

- squawk 2.63.0 (PostgreSQL migration linter): https://github.com/sbdchd/squawk
  ``crates/squawk_linter/src/lib.rs`` (the ``Rule`` enum and its ids) and ``docs/docs/<id>.md``;
  https://squawkhq.com/docs/rules. Snapshot commit 5125ddf5 (2026-08-22).
- strong_migrations 2.8.0 (Rails): https://github.com/ankane/strong_migrations, the "Checks" section of
  ``README.md``; the peer_rule is the README heading. Snapshot commit c5461acb (2026-05-17).
- MigrationPilot 1.6.1 (PostgreSQL migration analyzer, npm ``migrationpilot``):
  https://github.com/mickelsamuel/migrationpilot ``docs/rules/MP001.md`` … ``MP112.md`` and ``src/rules/``.
  Snapshot commit 6aceb213 (2026-08-12).

Relations: ``same`` — we report the same thing; ``stricter`` — we report more, or measure it on the shadow
(locks, rewrites, scans) where the peer guesses from the SQL text; ``looser`` — we report less, and the note
says why (usually: the trace proves the case safe); ``missing`` — we have no such rule, and the note says why
or ``missing (planned)``.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass

RELATIONS = ("same", "stricter", "looser", "missing")
PEERS = {
    "squawk": ("squawk", "2.63.0", "https://github.com/sbdchd/squawk"),
    "strong_migrations": ("strong_migrations", "2.8.0", "https://github.com/ankane/strong_migrations"),
    "migrationpilot": ("MigrationPilot", "1.6.1", "https://github.com/mickelsamuel/migrationpilot"),
}
READ_ON = "2026-12-02"


@dataclass(frozen=True)
class PeerRule:
    peer: str            # a key of PEERS
    peer_rule: str       # the peer's id (or README heading for strong_migrations)
    summary: str         # what the peer reports, in our words
    ours: tuple[str, ...]
    relation: str        # one of RELATIONS
    note: str = ""


def _p(peer: str, rows: list[tuple]) -> tuple[PeerRule, ...]:
    return tuple(PeerRule(peer, r[0], r[1], tuple(r[2]), r[3], r[4] if len(r) > 4 else "") for r in rows)


MEASURED = "measured on the shadow (pg_locks / relfilenode / scan counters) instead of inferred from the SQL"
NO_PROD = "needs production statistics; the shadow has none, and our rules report regardless of table size"
NOT_SCHEMA = "a schema-design preference we do not check"

SQUAWK = _p("squawk", [
    ("require-concurrent-index-creation", "CREATE INDEX without CONCURRENTLY", ["create-index-non-concurrent"], "same"),
    ("require-concurrent-index-deletion", "DROP INDEX without CONCURRENTLY", ["drop-index-non-concurrent"], "same"),
    ("constraint-missing-not-valid", "CHECK/FOREIGN KEY added without NOT VALID",
     ["constraint-validated-in-place", "validate-in-same-transaction"], "stricter",
     "also catches VALIDATE while the transaction still holds the write-blocking lock; " + MEASURED),
    ("adding-field-with-default", "ADD COLUMN with a default that forces a rewrite", ["add-column-rewrites-table"],
     "stricter", "the rewrite itself is observed, whatever the default expression is"),
    ("adding-foreign-key-constraint", "foreign key added and validated in one step",
     ["constraint-validated-in-place"], "stricter", MEASURED),
    ("changing-column-type", "any ALTER COLUMN TYPE", ["alter-column-type-rewrites"], "looser",
     "a type change the trace shows neither rewrites nor scans (e.g. widening varchar) is not reported"),
    ("adding-not-nullable-field", "SET NOT NULL on an existing column", ["set-not-null-scans-table"], "looser",
     "not reported when a validated CHECK (col IS NOT NULL) lets PostgreSQL skip the scan, as the trace shows"),
    ("adding-serial-primary-key-field", "primary key added with an index built under the lock",
     ["unique-constraint-builds-index", "add-column-rewrites-table"], "stricter",
     "also reports the rewrite of an added serial column"),
    ("renaming-column", "RENAME COLUMN", ["rename-column"], "same"),
    ("renaming-table", "RENAME TABLE", ["rename-table"], "same"),
    ("disallowed-unique-constraint", "UNIQUE constraint not built from an existing index",
     ["unique-constraint-builds-index"], "same"),
    ("ban-drop-database", "DROP DATABASE", [], "missing",
     "an Alembic revision runs inside its database; not planned"),
    ("prefer-bigint-over-int", "int/integer columns", ["int32-primary-key"], "looser",
     "we report 32-bit primary keys only; other integer columns are a deliberate choice"),
    ("prefer-bigint-over-smallint", "smallint columns", ["int32-primary-key"], "looser",
     "we report small primary keys only"),
    ("prefer-identity", "serial instead of an identity column", [], "missing", NOT_SCHEMA),
    ("prefer-repack", "VACUUM FULL or CLUSTER (suggests pg_repack)", ["vacuum-full-or-cluster"], "same"),
    ("prefer-robust-stmts", "statements without IF [NOT] EXISTS, so a retry fails", [], "missing",
     "Alembic's version table and transactional DDL make a failed revision roll back and rerun whole"),
    ("prefer-text-field", "varchar(n) columns", ["varchar-with-limit"], "same"),
    ("prefer-timestamp-tz", "timestamp without time zone", ["timestamp-without-time-zone"], "same"),
    ("ban-char-field", "char(n) columns", [], "missing", NOT_SCHEMA),
    ("ban-drop-column", "DROP COLUMN", ["drop-column"], "same"),
    ("ban-drop-table", "DROP TABLE", ["drop-table"], "same"),
    ("ban-drop-not-null", "DROP NOT NULL (readers may break on NULLs)", [], "missing",
     "metadata-only and takes no long lock; a compatibility question we do not judge"),
    ("transaction-nesting", "BEGIN/COMMIT written inside a migration", [], "missing",
     "Alembic owns the transaction; not planned"),
    ("adding-required-field", "ADD COLUMN NOT NULL without a default",
     ["add-column-not-null-without-default"], "same"),
    ("ban-concurrent-index-creation-in-transaction", "CREATE INDEX CONCURRENTLY in a transaction",
     ["concurrently-in-transaction"], "stricter", "also REINDEX/DETACH … CONCURRENTLY and VACUUM"),
    ("unused-ignore", "an ignore comment that suppresses nothing", [], "missing",
     "we do not report unused suppressions"),
    ("ban-create-domain-with-constraint", "CREATE DOMAIN with a CHECK", ["domain-constraint-scans-tables"],
     "looser", "creating a domain is cheap; we report the later ALTER DOMAIN that scans the tables using it"),
    ("ban-alter-domain-with-add-constraint", "ALTER DOMAIN ADD CONSTRAINT", ["domain-constraint-scans-tables"],
     "stricter", MEASURED),
    ("ban-truncate-cascade", "TRUNCATE … CASCADE", ["truncate"], "stricter", "we report every TRUNCATE"),
    ("require-timeout-settings", "no lock_timeout/statement_timeout before DDL", ["lock-without-timeout"],
     "looser", "only where a write-blocking lock on an existing table is taken; statement_timeout not checked"),
    ("ban-uncommitted-transaction", "BEGIN without a matching COMMIT", [], "missing",
     "Alembic commits the transaction it opens"),
    ("require-enum-value-ordering", "ALTER TYPE ADD VALUE without BEFORE/AFTER", [], "missing", NOT_SCHEMA),
    ("require-table-schema", "table names without a schema", [], "missing", NOT_SCHEMA),
    ("identifier-too-long", "identifiers over 63 bytes (silently truncated)", [], "missing", "not planned"),
    ("require-concurrent-partition-detach", "DETACH PARTITION without CONCURRENTLY",
     ["detach-partition-non-concurrent"], "same"),
    ("require-concurrent-reindex", "REINDEX without CONCURRENTLY", ["reindex-non-concurrent"], "same"),
    ("require-lock-timeout", "no lock_timeout before a locking statement", ["lock-without-timeout"], "looser",
     "only where the trace shows a write-blocking lock on an existing table"),
    ("require-statement-timeout", "no statement_timeout before a long statement", [], "missing",
     "we report the long work itself (scans, rewrites, builds under a lock)"),
    ("ban-duplicate-column-assignments", "UPDATE setting one column twice", [], "missing",
     "PostgreSQL rejects it, so the shadow run fails"),
])

STRONG = _p("strong_migrations", [
    ("removing a column", "remove_column", ["drop-column"], "same"),
    ("changing the type of a column", "change_column other than a known-safe change",
     ["alter-column-type-rewrites"], "stricter", "their safe list is fixed; ours is " + MEASURED),
    ("renaming a column", "rename_column", ["rename-column"], "same"),
    ("renaming a table", "rename_table", ["rename-table"], "same"),
    ("creating a table with the force option", "create_table force: true (drops an existing table)",
     ["drop-table"], "same", "Alembic has no force option; the DROP TABLE it stands for is reported"),
    ("adding an auto-incrementing column", "new serial/identity column (rewrite)", ["add-column-rewrites-table"],
     "stricter", MEASURED),
    ("adding a stored generated column", "new STORED generated column (rewrite)", ["add-column-rewrites-table"],
     "stricter", MEASURED),
    ("adding a foreign key", "foreign key validated in place", ["constraint-validated-in-place"], "stricter",
     MEASURED),
    ("adding a check constraint", "CHECK validated in place", ["constraint-validated-in-place"], "stricter",
     MEASURED),
    ("executing SQL directly", "any raw SQL (asks for a safety_assured block)",
     ["blocking-lock-during-work", "lock-without-timeout"], "stricter",
     "op.execute SQL runs on the shadow and every rule applies to it, instead of a blanket warning"),
    ("backfilling data", "update in the migration transaction", ["backfill-in-migration-transaction"], "same"),
    ("adding an index non-concurrently", "add_index without algorithm: :concurrently",
     ["create-index-non-concurrent"], "same"),
    ("adding a reference", "add_reference (index built and FK validated in place)",
     ["create-index-non-concurrent", "constraint-validated-in-place"], "same"),
    ("adding a unique constraint", "UNIQUE constraint building its index under the lock",
     ["unique-constraint-builds-index"], "same"),
    ("adding an exclusion constraint", "EXCLUDE constraint on an existing table", ["exclusion-constraint"], "same"),
    ("adding a json column", "json instead of jsonb", ["json-instead-of-jsonb"], "same"),
    ("adding a column with a volatile default value", "volatile default (rewrite)", ["add-column-rewrites-table"],
     "stricter", MEASURED),
    ("setting NOT NULL on an existing column", "change_column_null false (scan)", ["set-not-null-scans-table"],
     "same", "both accept a validated CHECK first; ours sees the skipped scan in the trace"),
    ("renaming an enum value", "ALTER TYPE … RENAME VALUE", [], "missing",
     "metadata-only; the risk is application code, not locks"),
    ("renaming a schema", "ALTER SCHEMA … RENAME", [], "missing", "not planned"),
    ("using the COPY algorithm", "MySQL/MariaDB ALTER … ALGORITHM=COPY", [], "missing",
     "MySQL/MariaDB only; not applicable to PostgreSQL"),
    ("using shared or exclusive locking", "MySQL/MariaDB LOCK=SHARED/EXCLUSIVE", [], "missing",
     "MySQL/MariaDB only; not applicable"),
    ("adding a column with an expression default value", "MySQL/MariaDB expression default", [], "missing",
     "MySQL/MariaDB only; on PostgreSQL add-column-rewrites-table measures the rewrite"),
    ("keeping non-unique indexes to three columns or less", "wide non-unique indexes", [], "missing",
     NOT_SCHEMA),
])

_MP = [
    ("001", "require-concurrent-index-creation", "CREATE INDEX without CONCURRENTLY",
     ["create-index-non-concurrent"], "same"),
    ("002", "require-check-not-null-pattern", "SET NOT NULL without a validated CHECK first",
     ["set-not-null-scans-table"], "same"),
    ("003", "volatile-default-table-rewrite", "ADD COLUMN with a volatile default", ["add-column-rewrites-table"],
     "stricter", MEASURED),
    ("004", "require-lock-timeout", "DDL without lock_timeout", ["lock-without-timeout"], "looser",
     "only where the trace shows a write-blocking lock on an existing table"),
    ("005", "require-not-valid-foreign-key", "FOREIGN KEY without NOT VALID", ["constraint-validated-in-place"],
     "stricter", MEASURED),
    ("006", "no-vacuum-full", "VACUUM FULL", ["vacuum-full-or-cluster"], "same"),
    ("007", "no-column-type-change", "ALTER COLUMN TYPE", ["alter-column-type-rewrites"], "looser",
     "a change the trace shows neither rewrites nor scans is not reported"),
    ("008", "no-multi-ddl-transaction", "several DDL statements in one transaction", ["locks-accumulate"], "looser",
     "only when write-blocking locks on several existing tables pile up"),
    ("009", "require-drop-index-concurrently", "DROP INDEX without CONCURRENTLY",
     ["drop-index-non-concurrent"], "same"),
    ("010", "no-rename-column", "RENAME COLUMN", ["rename-column"], "same"),
    ("011", "unbatched-data-backfill", "UPDATE/DELETE without batching", ["backfill-in-migration-transaction"], "same"),
    ("012", "no-enum-add-value-in-transaction", "ALTER TYPE ADD VALUE in a transaction", [], "missing",
     "allowed since PostgreSQL 12; using the value in the same transaction fails on the shadow"),
    ("013", "high-traffic-table-ddl", "DDL on a table with heavy traffic", [], "missing", NO_PROD),
    ("014", "large-table-ddl", "long-locking DDL on a large table", [], "missing", NO_PROD),
    ("015", "no-add-column-serial", "ADD COLUMN serial (rewrite)", ["add-column-rewrites-table"], "stricter", MEASURED),
    ("016", "require-index-on-fk", "foreign key without an index on its columns",
     ["foreign-key-without-index"], "same"),
    ("017", "no-drop-column", "DROP COLUMN", ["drop-column"], "same"),
    ("018", "no-force-set-not-null", "SET NOT NULL scanning the table", ["set-not-null-scans-table"], "same"),
    ("019", "no-exclusive-lock-high-connections", "exclusive lock while many connections are open", [], "missing",
     NO_PROD),
    ("020", "require-statement-timeout", "long statement without statement_timeout", [], "missing",
     "we report the long work itself"),
    ("021", "require-concurrent-reindex", "REINDEX without CONCURRENTLY", ["reindex-non-concurrent"], "same"),
    ("022", "no-drop-cascade", "DROP … CASCADE", [], "missing", "drop-table reports the drop, not the cascade"),
    ("023", "require-if-not-exists", "CREATE without IF NOT EXISTS", [], "missing",
     "a failed Alembic revision rolls back and reruns whole"),
    ("024", "no-enum-value-removal", "removing an enum value (recreating the type)", [], "missing", "not planned"),
    ("025", "ban-concurrent-in-transaction", "CONCURRENTLY in a transaction", ["concurrently-in-transaction"], "same"),
    ("026", "ban-drop-table", "DROP TABLE", ["drop-table"], "same"),
    ("027", "disallowed-unique-constraint", "UNIQUE constraint building its index",
     ["unique-constraint-builds-index"], "same"),
    ("028", "no-rename-table", "RENAME TABLE", ["rename-table"], "same"),
    ("029", "ban-drop-not-null", "DROP NOT NULL", [], "missing", "metadata-only; a compatibility question"),
    ("030", "require-not-valid-check", "CHECK without NOT VALID", ["constraint-validated-in-place"], "stricter",
     MEASURED),
    ("031", "ban-exclusion-constraint", "EXCLUDE constraint", ["exclusion-constraint"], "same"),
    ("032", "ban-cluster", "CLUSTER", ["vacuum-full-or-cluster"], "same"),
    ("033", "require-concurrent-refresh-matview", "REFRESH MATERIALIZED VIEW without CONCURRENTLY",
     ["refresh-materialized-view-non-concurrent"], "same"),
    ("034", "ban-drop-database", "DROP DATABASE", [], "missing", "not applicable inside a revision"),
    ("035", "ban-drop-schema", "DROP SCHEMA", [], "missing", "not planned"),
    ("036", "ban-truncate-cascade", "TRUNCATE … CASCADE", ["truncate"], "stricter", "we report every TRUNCATE"),
    ("037", "prefer-text-over-varchar", "varchar(n)", ["varchar-with-limit"], "same"),
    ("038", "prefer-bigint-over-int", "int columns", ["int32-primary-key"], "looser", "primary keys only"),
    ("039", "prefer-identity-over-serial", "serial instead of identity", [], "missing", NOT_SCHEMA),
    ("040", "prefer-timestamptz", "timestamp without time zone", ["timestamp-without-time-zone"], "same"),
    ("041", "ban-char-field", "char(n)", [], "missing", NOT_SCHEMA),
    ("042", "require-index-name", "index without an explicit name", [], "missing",
     "op.create_index always takes a name"),
    ("043", "ban-domain-constraint", "constraints on domains", ["domain-constraint-scans-tables"], "stricter",
     MEASURED),
    ("044", "no-data-loss-type-narrowing", "type change that can truncate data", [], "missing",
     "alter-column-type-rewrites reports the scan/rewrite, not the data loss"),
    ("045", "require-primary-key", "new table without a primary key", [], "missing", NOT_SCHEMA),
    ("046", "require-concurrent-detach-partition", "DETACH PARTITION without CONCURRENTLY",
     ["detach-partition-non-concurrent"], "same"),
    ("047", "ban-set-logged-unlogged", "SET LOGGED/UNLOGGED", ["set-table-logged-tablespace-access-method"], "same"),
    ("048", "ban-alter-default-volatile-existing", "SET DEFAULT volatile on an existing column (old rows keep NULL)",
     [], "missing", "takes no long lock; a data-semantics question"),
    ("049", "require-partition-key-in-pk", "partitioned-table key missing from the primary key", [], "missing",
     "PostgreSQL rejects it, so the shadow run fails"),
    ("050", "prefer-hnsw-over-ivfflat", "pgvector ivfflat index", [], "missing", "extension-specific"),
    ("051", "require-spatial-index", "PostGIS column without a spatial index", [], "missing", "extension-specific"),
    ("052", "warn-dependent-objects", "change to an object others depend on", [], "missing", "not planned"),
    ("053", "ban-uncommitted-transaction", "BEGIN without COMMIT", [], "missing", "Alembic owns the transaction"),
    ("054", "alter-type-add-value-in-transaction", "ADD VALUE in a transaction", [], "missing",
     "the shadow run fails if the new value is used in the same transaction"),
    ("055", "drop-pk-replica-identity-break", "primary key dropped under logical replication",
     ["publication-identity-changed"], "same"),
    ("056", "gin-index-on-jsonb-without-expression", "GIN index on a whole jsonb column", [], "missing", NOT_SCHEMA),
    ("057", "rls-enabled-without-policy", "RLS enabled with no policy", [], "missing", "not planned"),
    ("058", "multi-alter-table-same-table", "several ALTER TABLE on one table", [], "missing", "style"),
    ("059", "sequence-not-reset-after-data-migration", "sequence behind inserted ids", [], "missing", "not planned"),
    ("060", "alter-type-rename-value", "RENAME VALUE of an enum", [], "missing", "metadata-only"),
    ("061", "suboptimal-column-order", "column order wasting alignment padding", [], "missing", NOT_SCHEMA),
    ("062", "ban-add-generated-stored-column", "ADD COLUMN … GENERATED STORED (rewrite)",
     ["add-column-rewrites-table"], "stricter", MEASURED),
    ("063", "warn-do-block-ddl", "DDL hidden in a DO block", ["blocking-lock-during-work", "lock-without-timeout"],
     "stricter", "the DO block runs on the shadow, so what it locks and rewrites is seen"),
    ("064", "ban-disable-trigger", "DISABLE TRIGGER", ["disable-trigger"], "same"),
    ("065", "ban-lock-table", "LOCK TABLE", ["lock-table"], "same"),
    ("066", "warn-autovacuum-disabled", "autovacuum_enabled = false", [], "missing", "not planned"),
    ("067", "warn-backfill-no-batching", "backfill without batches", ["backfill-in-migration-transaction"], "same"),
    ("068", "warn-integer-pk-capacity", "CREATE SEQUENCE AS integer", ["int32-primary-key"], "looser",
     "we report the 32-bit primary key of a new table, not a bare sequence"),
    ("069", "warn-fk-lock-both-tables", "foreign key locking both tables",
     ["constraint-validated-in-place", "locks-accumulate"], "stricter", MEASURED),
    ("070", "warn-concurrent-index-invalid", "concurrent index that may be left INVALID",
     ["concurrent-index-invalid-leftover"], "same"),
    ("071", "ban-rename-in-use-column", "renaming a column still in use", ["rename-column"], "stricter",
     "we report every rename of an existing column"),
    ("072", "warn-partition-default-scan", "ATTACH PARTITION scanning the DEFAULT partition",
     ["attach-partition-scans"], "same"),
    ("073", "ban-superuser-role", "CREATE/ALTER ROLE … SUPERUSER", [], "missing", "not planned"),
    ("074", "require-deferrable-fk", "foreign key not DEFERRABLE", [], "missing", NOT_SCHEMA),
    ("075", "warn-toast-bloat-risk", "wide columns prone to TOAST bloat", [], "missing", NOT_SCHEMA),
    ("076", "warn-xid-consuming-retry", "retry loops consuming transaction ids", [], "missing", "not planned"),
    ("077", "prefer-lz4-toast-compression", "pglz instead of lz4 compression", [], "missing", NOT_SCHEMA),
    ("078", "warn-extension-version-pin", "CREATE EXTENSION without a version", [], "missing", "not planned"),
    ("079", "warn-rls-policy-completeness", "RLS policies not covering every command", [], "missing",
     "rls-access-widened reports widening, not gaps"),
    ("080", "ban-data-in-migration", "data changes in a schema migration", ["backfill-in-migration-transaction"],
     "looser", "only full-table or in-transaction UPDATE/DELETE of existing tables; seed INSERTs are fine"),
    ("081", "prefer-pg18-not-null-not-valid", "PostgreSQL 18 NOT NULL … NOT VALID pattern", [], "missing",
     "depends on the target PostgreSQL version"),
    ("082", "warn-not-enforced-constraint", "NOT ENFORCED constraint", [], "missing", "not planned"),
    ("083", "warn-fk-nondeterministic-collation", "foreign key on a nondeterministic collation", [], "missing",
     "not planned"),
    ("084", "require-default-for-not-null-column", "ADD COLUMN NOT NULL without DEFAULT",
     ["add-column-not-null-without-default"], "same"),
    ("085", "warn-grant-widening", "GRANT widening access", ["grant-to-public"], "looser", "GRANT … TO PUBLIC only"),
    ("086", "require-explicit-on-delete", "foreign key without ON DELETE", [], "missing", NOT_SCHEMA),
    ("087", "ban-volatile-check-constraint", "CHECK calling a volatile function", [], "missing", "not planned"),
    ("088", "require-analyze-after-backfill", "no ANALYZE after a backfill", [], "missing", "not planned"),
    ("089", "warn-collation-change-rewrite", "collation change rebuilding indexes",
     ["alter-column-type-rewrites"], "stricter", MEASURED),
    ("090", "warn-trigger-on-hot-table", "trigger on a busy table", [], "missing", NO_PROD),
    ("091", "warn-privilege-drift", "privileges differing between objects", [], "missing", "not planned"),
    ("092", "require-partitioned-index-strategy", "CREATE INDEX on a partitioned parent",
     ["create-index-non-concurrent"], "same", "CONCURRENTLY on the parent is rejected, so the shadow run fails"),
    ("093", "warn-default-partition-growth", "rows accumulating in a DEFAULT partition", [], "missing", "not planned"),
    ("094", "require-attach-partition-check", "ATTACH PARTITION without a matching CHECK",
     ["attach-partition-scans"], "same"),
    ("095", "warn-set-tablespace-rewrite", "SET TABLESPACE (rewrite)", ["set-table-logged-tablespace-access-method"],
     "same"),
    ("096", "warn-matview-with-data", "CREATE MATERIALIZED VIEW … WITH DATA", [], "missing",
     "a new object; not planned"),
    ("097", "ban-drop-constraint-backing-index", "dropping the index behind a constraint", [], "missing",
     "PostgreSQL refuses DROP INDEX of it, so the shadow run fails"),
    ("098", "warn-set-schema", "ALTER … SET SCHEMA", [], "missing", "not planned"),
    ("099", "warn-security-definer-search-path", "SECURITY DEFINER without search_path", [], "missing", "not planned"),
    ("100", "warn-redundant-index", "index duplicating another", [], "missing", "not planned"),
    ("101", "warn-index-on-write-hot-table", "index on a write-heavy table", [], "missing", NO_PROD),
    ("102", "warn-rewrite-disk-headroom", "rewrite needing free disk", [], "missing", NO_PROD),
    ("103", "warn-replication-lag-risk", "statement that lags replicas", [], "missing", NO_PROD),
    ("104", "warn-long-index-build", "index build on a large table", [], "missing", NO_PROD),
    ("105", "warn-timescale-hypertable-ddl", "DDL on a TimescaleDB hypertable", [], "missing", "extension-specific"),
    ("106", "prefer-timescale-drop-chunks", "DELETE instead of drop_chunks", [], "missing", "extension-specific"),
    ("107", "warn-citus-distributed-ddl", "DDL on a Citus distributed table", [], "missing", "extension-specific"),
    ("108", "warn-partman-managed-parent", "DDL on a pg_partman parent", [], "missing", "extension-specific"),
    ("109", "require-vector-index-params", "pgvector index without parameters", [], "missing", "extension-specific"),
    ("110", "warn-partitioned-parent-fanout", "DDL fanning out to many partitions", [], "missing", "not planned"),
    ("111", "warn-timescale-columnstore-ddl", "DDL on a TimescaleDB columnstore", [], "missing", "extension-specific"),
    ("112", "warn-hnsw-build-memory", "HNSW build exceeding maintenance_work_mem", [], "missing",
     "extension-specific"),
]
MIGRATIONPILOT = _p("migrationpilot", [(f"MP{n} {rid}", *rest) for n, rid, *rest in _MP])

PEER_RULES: tuple[PeerRule, ...] = SQUAWK + STRONG + MIGRATIONPILOT


def _cell(text: str) -> str:
    return text.replace("|", "\\|")


def compared_page() -> str:
    """The Markdown of ``docs/rules/compared.md``."""
    from .docs import GENERATED

    lines = [
        GENERATED.replace("edit the rule class", "edit alembic_guard/rules/peers.py"),
        "# alembic-guard compared with squawk, strong_migrations and MigrationPilot",
        "",
        f"Every rule of each peer (read on {READ_ON}) and the alembic-guard rules that correspond. "
        "Relation: **same**; **stricter** (we report more, or measure it on the shadow); **looser** (we report "
        "less, e.g. when the trace proves the case safe); **missing** (no such rule, with the reason).",
        "",
        "| Peer | Version | Rules | " + " | ".join(RELATIONS) + " |",
        "|---|---|---|" + "---|" * len(RELATIONS),
    ]
    for key, (name, version, url) in PEERS.items():
        rows = [r for r in PEER_RULES if r.peer == key]
        c = Counter(r.relation for r in rows)
        counts = " | ".join(str(c[x]) for x in RELATIONS)
        lines.append(f"| [{name}]({url}) | {version} | {len(rows)} | {counts} |")
    for key, (name, version, _url) in PEERS.items():
        lines += ["", f"## {name} {version}", "",
                  "| Peer rule | Reports | Ours | Relation | Note |", "|---|---|---|---|---|"]
        for r in (r for r in PEER_RULES if r.peer == key):
            ours = ", ".join(f"[`{i}`]({i}.md)" for i in r.ours) or "—"
            lines.append(f"| `{_cell(r.peer_rule)}` | {_cell(r.summary)} | {ours} | {r.relation} | {_cell(r.note)} |")
    lines.append("")
    return "\n".join(lines)
