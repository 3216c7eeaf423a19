-- hazard: none: measurements_2027 already has a validated CHECK proving its bounds and the parent's
--   index, and the parent has no DEFAULT partition: ATTACH skips the scan and takes only SHARE
--   UPDATE EXCLUSIVE on the parent.
-- expect: safe
SET lock_timeout = '2s';
ALTER TABLE measurements ATTACH PARTITION measurements_2027 FOR VALUES FROM ('2027-01-01') TO ('2028-01-01');
ALTER TABLE measurements_2027 DROP CONSTRAINT measurements_2027_bounds;
