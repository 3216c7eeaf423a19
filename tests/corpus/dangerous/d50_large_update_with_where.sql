-- hazard: an UPDATE of a third of orders in one statement inside the migration transaction: row
--   locks on ~1,700 rows (in production: millions) held until the whole migration commits,
--   blocking every concurrent writer of those rows; one huge transaction and WAL burst.
-- expect: backfill-in-migration-transaction
UPDATE orders SET note = 'paid-legacy' WHERE status = 'paid';
