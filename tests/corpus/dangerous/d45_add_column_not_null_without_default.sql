-- hazard: ADD COLUMN ... NOT NULL without a DEFAULT: it fails outright as soon as the table has
--   a row, and on an empty table every INSERT of the running application (which does not know
--   the column) fails from then on.
-- expect: add-column-not-null-without-default
SET lock_timeout = '2s';
ALTER TABLE coupons ADD COLUMN discount_percent integer NOT NULL;
