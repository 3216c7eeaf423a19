-- hazard: CREATE INDEX on a partitioned table builds the index on every partition while holding
--   SHARE locks: writes to all of events are blocked (CONCURRENTLY is not allowed here).
-- expect: create-index-non-concurrent
CREATE INDEX events_kind_idx ON events (kind);
