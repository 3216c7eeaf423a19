-- hazard: DROP COLUMN breaks running code (and ORMs that SELECT every mapped column) that still
--   reads the column.
-- expect: drop-column
ALTER TABLE accounts DROP COLUMN deleted_at;
