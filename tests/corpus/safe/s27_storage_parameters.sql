-- hazard: none: per-table autovacuum settings take SHARE UPDATE EXCLUSIVE, which does not block
--   reads or writes.
-- expect: safe
ALTER TABLE orders SET (autovacuum_vacuum_scale_factor = 0.05, autovacuum_analyze_scale_factor = 0.02);
