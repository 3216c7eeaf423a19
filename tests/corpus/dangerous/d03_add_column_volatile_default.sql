-- hazard: ADD COLUMN with a volatile DEFAULT (gen_random_uuid()) cannot use the fast "missing
--   value" path: the whole table is rewritten under ACCESS EXCLUSIVE.
-- expect: add-column-rewrites-table
ALTER TABLE accounts ADD COLUMN public_id uuid DEFAULT gen_random_uuid();
