-- hazard: none: increasing a numeric's precision with the same scale (12,2 -> 16,2) needs no
--   rewrite.
-- expect: safe
SET lock_timeout = '2s';
ALTER TABLE accounts ALTER COLUMN balance TYPE numeric(16, 2);
