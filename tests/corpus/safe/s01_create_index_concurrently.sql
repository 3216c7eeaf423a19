-- hazard: none: CREATE INDEX CONCURRENTLY builds without blocking writes (SHARE UPDATE EXCLUSIVE).
-- expect: safe
-- modes: autocommit
-- skip-transaction: CREATE INDEX CONCURRENTLY cannot run inside a transaction block
CREATE INDEX CONCURRENTLY IF NOT EXISTS orders_placed_at_idx ON orders (placed_at);
