"""The single source of the PostgreSQL version facts alembic-guard relies on: feature → first major.

Rules, recipes, the ``alembic_guard.ops`` helpers and the generated docs ask this module whether the
target has a feature (``has(FEATURE, server_version_num)``) instead of comparing version numbers
themselves. The version judged is the traced shadow's ``server_version_num`` (``180006``), which is
the target's major when ``target-version`` is set (the shadow providers refuse any other major).

``server_version_num`` 0 means "not known" (a hint rendered without a server, e.g. for the docs):
a feature counts as present then only when every major PostgreSQL still supports has it
(``OLDEST_SUPPORTED``), so advice never names a feature a supported server may lack.

Each fact names the page of the PostgreSQL documentation or release notes that establishes it, and
``tests/test_version_facts.py`` pins the ones a rule or a hint depends on, per installed major, on a
real server.
"""

from __future__ import annotations

from dataclasses import dataclass

RELEASE_NOTES = "https://www.postgresql.org/docs/release/"
DOCS = "https://www.postgresql.org/docs/"

# The oldest major the PostgreSQL community still supports (14 reached end of life in November 2026;
# source: https://www.postgresql.org/support/versioning/). Used only when the server is unknown.
OLDEST_SUPPORTED = 15


def major_of(server_version_num: int) -> int:
    """The major version of a ``server_version_num`` (``180006`` → 18; 0 → 0, unknown)."""
    return server_version_num // 10000 if server_version_num else 0


@dataclass(frozen=True)
class Feature:
    """A PostgreSQL behaviour that exists from major ``since`` on (``until``: last major that has
    it, None: still there). ``source``: the docs page or release notes that establish it."""

    key: str
    title: str
    since: int
    source: str
    until: int | None = None

    def on(self, server_version_num: int) -> bool:
        """Whether a server of ``server_version_num`` has the feature (0: unknown, see the module doc)."""
        major = major_of(server_version_num) or OLDEST_SUPPORTED
        if server_version_num == 0 and self.until is not None:
            return False  # it may be gone on the unknown server
        return self.since <= major and (self.until is None or major <= self.until)

    def label(self) -> str:
        """``PostgreSQL 14+`` / ``PostgreSQL 12-18``."""
        return f"PostgreSQL {self.since}" + (f"-{self.until}" if self.until else "+")


FAST_ADD_COLUMN_DEFAULT = Feature(
    "fast-add-column-default", "ADD COLUMN with a non-volatile DEFAULT changes only the catalog", 11,
    RELEASE_NOTES + "11.0/ (\"Allow ALTER TABLE to add a column with a non-null default without doing a table "
    "rewrite\"); " + DOCS + "current/sql-altertable.html#SQL-ALTERTABLE-NOTES")
ADD_ENUM_VALUE_IN_TRANSACTION = Feature(
    "add-enum-value-in-transaction", "ALTER TYPE … ADD VALUE inside a transaction block "
    "(the new value is unusable until COMMIT)", 12,
    RELEASE_NOTES + "12.0/ (\"Allow ALTER TYPE ... ADD VALUE to be run inside a transaction block\"); "
    + DOCS + "current/sql-altertype.html (Notes)")
REINDEX_CONCURRENTLY = Feature(
    "reindex-concurrently", "REINDEX … CONCURRENTLY", 12,
    RELEASE_NOTES + "12.0/; " + DOCS + "current/sql-reindex.html#SQL-REINDEX-CONCURRENTLY")
SET_NOT_NULL_USES_CHECK = Feature(
    "set-not-null-uses-check", "SET NOT NULL skips its scan when a validated CHECK (col IS NOT NULL) proves it", 12,
    RELEASE_NOTES + "12.0/ (\"Allow ALTER TABLE ... SET NOT NULL to avoid unnecessary table scans\"); "
    + DOCS + "current/sql-altertable.html#SQL-ALTERTABLE-DESC-SET-DROP-NOT-NULL")
ATTACH_PARTITION_SHARE_UPDATE_EXCLUSIVE = Feature(
    "attach-partition-share-update-exclusive", "ATTACH PARTITION takes SHARE UPDATE EXCLUSIVE on the parent", 12,
    RELEASE_NOTES + "12.0/ (\"Allow ATTACH PARTITION to be performed with reduced locking\"); "
    + DOCS + "current/sql-altertable.html#SQL-ALTERTABLE-ATTACH-PARTITION")
DETACH_PARTITION_CONCURRENTLY = Feature(
    "detach-partition-concurrently", "ALTER TABLE … DETACH PARTITION … CONCURRENTLY", 14,
    RELEASE_NOTES + "14.0/; " + DOCS + "current/sql-altertable.html#SQL-ALTERTABLE-DETACH-PARTITION")
NOT_NULL_NOT_VALID = Feature(
    "not-null-not-valid", "ADD CONSTRAINT … NOT NULL col NOT VALID, then VALIDATE CONSTRAINT", 18,
    RELEASE_NOTES + "18.0/ (\"Allow NOT NULL constraints to be added as NOT VALID\"); "
    + DOCS + "18/sql-altertable.html")
NOT_NULL_IN_PG_CONSTRAINT = Feature(
    "not-null-in-pg-constraint", "NOT NULL constraints are rows of pg_constraint (contype 'n')", 18,
    RELEASE_NOTES + "18.0/ (\"Store column NOT NULL specifications in pg_constraint\"); "
    + DOCS + "18/catalog-pg-constraint.html")
VIRTUAL_GENERATED_COLUMNS = Feature(
    "virtual-generated-columns", "GENERATED ALWAYS AS (…) VIRTUAL columns (computed on read, nothing stored)", 18,
    RELEASE_NOTES + "18.0/ (\"Add support for virtual generated columns\"); "
    + DOCS + "18/ddl-generated-columns.html")
VACUUM_BACKFILL_OPTIONS = Feature(
    "vacuum-backfill-options", "VACUUM (SKIP_LOCKED, TRUNCATE false, PARALLEL 0)", 13,
    RELEASE_NOTES + "12.0/ (\"Add VACUUM and ANALYZE option SKIP_LOCKED\"; \"Add TRUNCATE option to VACUUM\"); "
    + RELEASE_NOTES + "13.0/ (\"Allow VACUUM to process indexes in parallel\", its PARALLEL option); "
    + DOCS + "current/sql-vacuum.html")
REPACK_CONCURRENTLY = Feature(
    "repack-concurrently", "REPACK (CONCURRENTLY): an online VACUUM FULL / CLUSTER", 19,
    DOCS + "devel/sql-repack.html (PostgreSQL 19 development docs)")
MERGE_SPLIT_PARTITIONS = Feature(
    "merge-split-partitions", "ALTER TABLE … MERGE PARTITIONS / SPLIT PARTITION", 19,
    DOCS + "devel/sql-altertable.html (PostgreSQL 19 development docs)")

FEATURES: dict[str, Feature] = {f.key: f for f in (
    FAST_ADD_COLUMN_DEFAULT, ADD_ENUM_VALUE_IN_TRANSACTION, REINDEX_CONCURRENTLY, SET_NOT_NULL_USES_CHECK,
    ATTACH_PARTITION_SHARE_UPDATE_EXCLUSIVE, DETACH_PARTITION_CONCURRENTLY, NOT_NULL_NOT_VALID,
    NOT_NULL_IN_PG_CONSTRAINT, VIRTUAL_GENERATED_COLUMNS, VACUUM_BACKFILL_OPTIONS, REPACK_CONCURRENTLY,
    MERGE_SPLIT_PARTITIONS)}


def has(feature: Feature | str, server_version_num: int) -> bool:
    """Whether a server of ``server_version_num`` (0: unknown) has ``feature`` (a Feature or its key;
    KeyError for an unknown key)."""
    return (FEATURES[feature] if isinstance(feature, str) else feature).on(server_version_num)


@dataclass(frozen=True)
class VersionRange:
    """The PostgreSQL majors where a rule's fact holds: ``min_major``..``max_major`` inclusive (None:
    unbounded), with ``source`` (the docs page / release notes that establish the bounds). A rule
    outside its range is not run (judge.py); the rule's docs page shows the range."""

    min_major: int | None = None
    max_major: int | None = None
    source: str = ""

    def covers(self, server_version_num: int) -> bool:
        """Whether a server of ``server_version_num`` is in the range (0, unknown: always)."""
        major = major_of(server_version_num)
        if not major:
            return True
        return (self.min_major is None or major >= self.min_major) and \
            (self.max_major is None or major <= self.max_major)

    @property
    def everywhere(self) -> bool:
        return self.min_major is None and self.max_major is None

    def label(self) -> str:
        """``all versions`` / ``PostgreSQL 12+`` / ``PostgreSQL up to 18`` / ``PostgreSQL 12-18``."""
        if self.everywhere:
            return "all versions"
        if self.max_major is None:
            return f"PostgreSQL {self.min_major}+"
        if self.min_major is None:
            return f"PostgreSQL up to {self.max_major}"
        return f"PostgreSQL {self.min_major}-{self.max_major}"

    @classmethod
    def since(cls, feature: Feature) -> VersionRange:
        """The range where ``feature`` exists."""
        return cls(feature.since, feature.until, feature.source)

    @classmethod
    def before(cls, feature: Feature) -> VersionRange:
        """The majors before ``feature`` came (a fact the feature ends)."""
        return cls(None, feature.since - 1, feature.source)


ALL_VERSIONS = VersionRange()
