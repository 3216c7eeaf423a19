-- hazard: REINDEX INDEX without CONCURRENTLY blocks writes to the table (and reads that would use
--   the index) while it rebuilds.
-- expect: reindex-non-concurrent
REINDEX INDEX orders_account_id_idx;
