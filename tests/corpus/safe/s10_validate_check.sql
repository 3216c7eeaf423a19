-- hazard: none: VALIDATE CONSTRAINT of a CHECK in its own revision does not block writes.
-- expect: safe
ALTER TABLE order_items VALIDATE CONSTRAINT order_items_amount_positive;
