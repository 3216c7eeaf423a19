-- hazard: DETACH PARTITION without CONCURRENTLY takes ACCESS EXCLUSIVE on the partitioned table:
--   every query on measurements waits.
-- expect: detach-partition-non-concurrent
ALTER TABLE measurements DETACH PARTITION measurements_2025;
