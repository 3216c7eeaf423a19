-- hazard: none: VALIDATE CONSTRAINT in its own revision scans under SHARE UPDATE EXCLUSIVE (and ROW
--   SHARE on the referenced table): reads and writes go on.
-- expect: safe
ALTER TABLE order_items VALIDATE CONSTRAINT order_items_order_id_fkey;
