-- hazard: changing the scale of a numeric (12,2 -> 12,4) rewrites the table under ACCESS
--   EXCLUSIVE; only a precision increase with the same scale is free.
-- expect: alter-column-type-rewrites
ALTER TABLE accounts ALTER COLUMN balance TYPE numeric(12, 4);
