-- hazard: none: changing a column's DEFAULT is catalog-only; lock_timeout bounds the wait for the
--   brief lock.
-- expect: safe
SET lock_timeout = '2s';
ALTER TABLE accounts ALTER COLUMN balance SET DEFAULT 10;
