-- hazard: DROP INDEX without CONCURRENTLY takes ACCESS EXCLUSIVE on the table (queues behind
--   long queries and blocks all access behind it).
-- expect: drop-index-non-concurrent
DROP INDEX accounts_created_at_idx;
