-- hazard: none: DETACH PARTITION ... CONCURRENTLY (PostgreSQL 14+) takes only SHARE UPDATE
--   EXCLUSIVE on the parent.
-- expect: safe
-- modes: autocommit
-- skip-transaction: DETACH PARTITION CONCURRENTLY cannot run inside a transaction block
ALTER TABLE measurements DETACH PARTITION measurements_2025 CONCURRENTLY;
