-- hazard: none: DROP INDEX CONCURRENTLY waits for running queries instead of locking them out.
-- expect: safe
-- modes: autocommit
-- skip-transaction: DROP INDEX CONCURRENTLY cannot run inside a transaction block
DROP INDEX CONCURRENTLY IF EXISTS orders_status_idx;
