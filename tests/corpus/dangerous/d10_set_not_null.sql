-- hazard: SET NOT NULL without a validated CHECK (col IS NOT NULL) scans the whole table while
--   holding ACCESS EXCLUSIVE: reads and writes wait.
-- expect: set-not-null-scans-table
ALTER TABLE orders ALTER COLUMN placed_at SET NOT NULL;
