-- hazard: none: CHECK ... NOT VALID is catalog-only; validated later in its own transaction.
-- expect: safe
SET lock_timeout = '2s';
ALTER TABLE orders ADD CONSTRAINT orders_total_non_negative CHECK (total >= 0) NOT VALID;
