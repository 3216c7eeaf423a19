-- hazard: NOT VALID followed by VALIDATE in the same transaction: the ACCESS EXCLUSIVE lock from
--   ADD CONSTRAINT is still held while VALIDATE scans, so NOT VALID bought nothing.
-- expect: validate-in-same-transaction
-- modes: transaction
-- skip-autocommit: in an autocommit block each statement commits on its own: that is the safe form
ALTER TABLE orders ADD CONSTRAINT orders_qty_positive CHECK (qty > 0) NOT VALID;
ALTER TABLE orders VALIDATE CONSTRAINT orders_qty_positive;
