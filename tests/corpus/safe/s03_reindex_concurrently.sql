-- hazard: none: REINDEX ... CONCURRENTLY rebuilds without blocking writes.
-- expect: safe
-- modes: autocommit
-- skip-transaction: REINDEX CONCURRENTLY cannot run inside a transaction block
REINDEX INDEX CONCURRENTLY orders_account_id_idx;
