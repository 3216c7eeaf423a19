-- hazard: ADD COLUMN ... UNIQUE builds a unique index on accounts under ACCESS EXCLUSIVE.
-- expect: unique-constraint-builds-index
ALTER TABLE accounts ADD COLUMN api_key text UNIQUE;
