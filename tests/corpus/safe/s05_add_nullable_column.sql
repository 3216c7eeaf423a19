-- hazard: none: a nullable column without a default is a catalog-only change.
-- expect: safe
SET lock_timeout = '2s';
ALTER TABLE orders ADD COLUMN coupon_code text;
