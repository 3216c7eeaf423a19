-- hazard: ADD COLUMN ... GENERATED ALWAYS AS IDENTITY numbers every existing row: full rewrite
--   under ACCESS EXCLUSIVE.
-- expect: add-column-rewrites-table
ALTER TABLE audit_log ADD COLUMN seq bigint GENERATED ALWAYS AS IDENTITY;
