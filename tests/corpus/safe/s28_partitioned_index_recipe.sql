-- hazard: none: the recipe for indexing a partitioned table without blocking writes: an invalid
--   parent index ON ONLY the parent (no build), each partition's index built CONCURRENTLY, then
--   attached; the parent index becomes valid once every partition's is attached.
-- expect: safe
-- modes: autocommit
-- skip-transaction: CREATE INDEX CONCURRENTLY cannot run inside a transaction block
SET lock_timeout = '2s';
CREATE INDEX IF NOT EXISTS events_kind_idx ON ONLY events (kind);
CREATE INDEX CONCURRENTLY IF NOT EXISTS events_2025_kind_idx ON events_2025 (kind);
CREATE INDEX CONCURRENTLY IF NOT EXISTS events_2026_kind_idx ON events_2026 (kind);
CREATE INDEX CONCURRENTLY IF NOT EXISTS events_default_kind_idx ON events_default (kind);
ALTER INDEX events_kind_idx ATTACH PARTITION events_2025_kind_idx;
ALTER INDEX events_kind_idx ATTACH PARTITION events_2026_kind_idx;
ALTER INDEX events_kind_idx ATTACH PARTITION events_default_kind_idx;
