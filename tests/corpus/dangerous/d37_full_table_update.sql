-- hazard: one UPDATE of every row of orders in the migration: row locks on the whole table for
--   the duration (concurrent writers of any row wait), one huge transaction, table bloat.
-- expect: backfill-in-migration-transaction
-- xfail-autocommit: verdict "safe": only a warning, backfill-in-migration-transaction: "UPDATE of
--   existing table orders in an autocommit block is a full-table backfill: it has no WHERE clause. It is
--   still one statement, so one long transaction holding the lock of every row it changes until it
--   ends (and one burst of WAL): batch it." (an error only inside the migration transaction)
UPDATE orders SET note = 'legacy';
