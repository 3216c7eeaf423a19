-- hazard: ADD CONSTRAINT ... CHECK without NOT VALID scans orders under ACCESS EXCLUSIVE.
-- expect: constraint-validated-in-place
SET lock_timeout = '2s';
ALTER TABLE orders ADD CONSTRAINT orders_total_non_negative CHECK (total >= 0);
