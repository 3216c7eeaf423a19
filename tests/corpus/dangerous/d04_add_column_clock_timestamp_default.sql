-- hazard: clock_timestamp() is volatile: ADD COLUMN ... DEFAULT clock_timestamp() NOT NULL rewrites
--   orders under ACCESS EXCLUSIVE (unlike now(), which is stable).
-- expect: add-column-rewrites-table
ALTER TABLE orders ADD COLUMN synced_at timestamptz NOT NULL DEFAULT clock_timestamp();
