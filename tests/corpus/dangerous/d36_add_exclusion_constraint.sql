-- hazard: ADD EXCLUDE builds a GiST index and checks every row under ACCESS EXCLUSIVE (there is no
--   NOT VALID or USING INDEX form for exclusion constraints).
-- expect: exclusion-constraint
ALTER TABLE bookings ADD CONSTRAINT bookings_no_overlap EXCLUDE USING gist (during WITH &&);
