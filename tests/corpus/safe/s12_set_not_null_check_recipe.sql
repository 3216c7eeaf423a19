-- hazard: none: the whole CHECK-based recipe, each step committed on its own (autocommit): brief
--   lock for NOT VALID, a non-blocking VALIDATE, a scan-free SET NOT NULL, then drop the CHECK.
-- expect: safe
-- modes: autocommit
-- skip-transaction: in one transaction VALIDATE would run under ADD CONSTRAINT's ACCESS EXCLUSIVE
--   lock (that is dangerous/d39); this recipe needs a commit between the steps
SET lock_timeout = '2s';
ALTER TABLE orders ADD CONSTRAINT orders_ref_code_not_null CHECK (ref_code IS NOT NULL) NOT VALID;
ALTER TABLE orders VALIDATE CONSTRAINT orders_ref_code_not_null;
ALTER TABLE orders ALTER COLUMN ref_code SET NOT NULL;
ALTER TABLE orders DROP CONSTRAINT orders_ref_code_not_null;
