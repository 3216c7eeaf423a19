-- hazard: DELETE of the whole table in one statement: row locks on every row, a long transaction,
--   WAL and replica lag burst.
-- expect: backfill-in-migration-transaction
DELETE FROM audit_log;
