-- hazard: none: SET DEFAULT nextval(...) only changes the default for future rows (unlike ADD
--   COLUMN with a volatile default, nothing is rewritten).
-- expect: safe
SET lock_timeout = '2s';
CREATE SEQUENCE IF NOT EXISTS orders_qty_seq;
ALTER TABLE orders ALTER COLUMN qty SET DEFAULT nextval('orders_qty_seq');
