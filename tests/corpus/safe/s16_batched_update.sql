-- hazard: none: a bounded batch (500 rows by primary key) of a backfill, in its own transaction
--   (autocommit), not a full-table UPDATE.
-- expect: safe
-- modes: autocommit
-- skip-transaction: the safe form of a backfill commits each batch; inside the migration
--   transaction the batch would hold its row locks until the whole migration ends
SET statement_timeout = '5s';
UPDATE orders SET note = 'legacy' WHERE id IN (SELECT id FROM orders WHERE note IS NULL ORDER BY id LIMIT 500);
