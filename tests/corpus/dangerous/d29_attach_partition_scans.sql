-- hazard: ATTACH PARTITION without a CHECK constraint proving the bounds scans the new partition,
--   and also scans the DEFAULT partition (under ACCESS EXCLUSIVE) for rows that now belong to it.
-- expect: attach-partition-scans
ALTER TABLE events ATTACH PARTITION events_2027 FOR VALUES FROM ('2027-01-01') TO ('2028-01-01');
