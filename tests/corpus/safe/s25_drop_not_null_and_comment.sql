-- hazard: none: DROP NOT NULL and COMMENT are catalog-only.
-- expect: safe
SET lock_timeout = '2s';
ALTER TABLE order_items ALTER COLUMN sku DROP NOT NULL;
COMMENT ON COLUMN orders.ref_code IS 'external reference';
