-- hazard: SET NOT NULL on a partitioned table scans every partition under ACCESS EXCLUSIVE.
-- expect: set-not-null-scans-table, blocking-lock-during-work
ALTER TABLE events ALTER COLUMN kind SET NOT NULL;
