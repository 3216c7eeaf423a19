-- hazard: RENAME TABLE breaks every running application instance that still queries order_items.
-- expect: rename-table
ALTER TABLE order_items RENAME TO line_items;
