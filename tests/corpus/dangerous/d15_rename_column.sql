-- hazard: RENAME COLUMN breaks every running application instance that still uses the old name.
-- expect: rename-column
ALTER TABLE accounts RENAME COLUMN name TO full_name;
