-- hazard: ADD PRIMARY KEY builds its unique index under ACCESS EXCLUSIVE, ignoring the unique
--   index audit_log already has.
-- expect: unique-constraint-builds-index
ALTER TABLE audit_log ADD PRIMARY KEY (id);
