-- hazard: the usual "remove an enum value" recipe (new type, ALTER COLUMN ... TYPE ... USING)
--   rewrites orders and rebuilds its status index under ACCESS EXCLUSIVE.
-- expect: alter-column-type-rewrites
CREATE TYPE order_status_v2 AS ENUM ('new', 'paid', 'shipped');
ALTER TABLE orders ALTER COLUMN status DROP DEFAULT;
ALTER TABLE orders ALTER COLUMN status TYPE order_status_v2 USING status::text::order_status_v2;
ALTER TABLE orders ALTER COLUMN status SET DEFAULT 'new';
DROP TYPE order_status;
ALTER TYPE order_status_v2 RENAME TO order_status;
