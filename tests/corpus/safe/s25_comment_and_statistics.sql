-- hazard: none: COMMENT and SET STATISTICS change only the catalog (SET STATISTICS takes SHARE UPDATE
--   EXCLUSIVE, which does not block reads or writes).
-- expect: safe
COMMENT ON COLUMN orders.ref_code IS 'external reference';
ALTER TABLE orders ALTER COLUMN account_id SET STATISTICS 500;
