-- hazard: a STORED generated column is computed for every existing row: full rewrite under ACCESS
--   EXCLUSIVE.
-- expect: add-column-rewrites-table
ALTER TABLE orders ADD COLUMN total_cents bigint GENERATED ALWAYS AS ((total * 100)::bigint) STORED;
