-- hazard: ADD CHECK on a partitioned table validates every partition under ACCESS EXCLUSIVE.
-- expect: constraint-validated-in-place, blocking-lock-during-work
ALTER TABLE events ADD CONSTRAINT events_kind_not_empty CHECK (kind <> '');
