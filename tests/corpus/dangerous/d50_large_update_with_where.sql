-- hazard: an UPDATE of a third of orders in one statement inside the migration transaction: row
--   locks on ~1,700 rows (in production: millions) held until the whole migration commits,
--   blocking every concurrent writer of those rows; one huge transaction and WAL burst.
-- expect: backfill-in-migration-transaction
-- xfail-autocommit: verdict "safe": only a warning, backfill-in-migration-transaction: "UPDATE of
--   existing table orders in an autocommit block is a full-table backfill: its WHERE (status =
--   'paid') pins no key of the table (primary key id). It is still one statement, so one long
--   transaction holding the lock of every row it changes until it ends (and one burst of WAL):
--   batch it." (an error only inside the migration transaction)
UPDATE orders SET note = 'paid-legacy' WHERE status = 'paid';
