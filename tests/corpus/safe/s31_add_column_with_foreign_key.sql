-- hazard: none: ADD COLUMN ... REFERENCES adds a column that is NULL in every row, so PostgreSQL
--   marks the foreign key valid without scanning orders; with lock_timeout, the brief SHARE ROW
--   EXCLUSIVE on accounts cannot queue other queries for long.
-- expect: safe
SET lock_timeout = '2s';
ALTER TABLE orders ADD COLUMN referrer_id bigint REFERENCES accounts (id);
