-- hazard: integer -> bigint is not binary compatible: the table and its indexes are rewritten
--   under ACCESS EXCLUSIVE.
-- expect: alter-column-type-rewrites
ALTER TABLE orders ALTER COLUMN qty TYPE bigint;
