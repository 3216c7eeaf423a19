-- hazard: integer -> text with USING rewrites the table and rebuilds its indexes under ACCESS
--   EXCLUSIVE.
-- expect: alter-column-type-rewrites
ALTER TABLE audit_log ALTER COLUMN account_id TYPE text USING account_id::text;
