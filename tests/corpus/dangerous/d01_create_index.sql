-- hazard: CREATE INDEX without CONCURRENTLY holds a SHARE lock on orders for the whole build:
--   every INSERT/UPDATE/DELETE on the table waits until the index is built.
-- expect: create-index-non-concurrent
CREATE INDEX orders_placed_at_idx ON orders (placed_at);
