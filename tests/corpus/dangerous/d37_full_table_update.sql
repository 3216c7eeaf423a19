-- hazard: one UPDATE of every row of orders in the migration: row locks on the whole table for
--   the duration (concurrent writers of any row wait), one huge transaction, table bloat.
-- expect: backfill-in-migration-transaction
UPDATE orders SET note = 'legacy';
