-- hazard: ADD COLUMN ... serial fills every existing row from a sequence (volatile default):
--   full rewrite under ACCESS EXCLUSIVE.
-- expect: add-column-rewrites-table
ALTER TABLE order_items ADD COLUMN position serial;
