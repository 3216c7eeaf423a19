-- hazard: shrinking varchar(100) to varchar(60) must check every row under ACCESS EXCLUSIVE
--   (and rewrites the table).
-- expect: alter-column-type-rewrites
ALTER TABLE accounts ALTER COLUMN name TYPE varchar(60);
