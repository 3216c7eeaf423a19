-- hazard: none: varchar(n) -> text is binary compatible: catalog-only.
-- expect: safe
SET lock_timeout = '2s';
ALTER TABLE orders ALTER COLUMN note TYPE text;
