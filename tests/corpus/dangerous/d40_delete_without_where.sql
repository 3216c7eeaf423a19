-- hazard: DELETE of the whole table in one statement: row locks on every row, a long transaction,
--   WAL and replica lag burst.
-- expect: backfill-in-migration-transaction
-- xfail-autocommit: verdict "safe": only a warning, backfill-in-migration-transaction: "DELETE of
--   existing table audit_log in an autocommit block is a full-table delete: it has no WHERE clause. It is
--   still one statement, so one long transaction holding the lock of every row it changes until it
--   ends (and one burst of WAL): batch it." (an error only inside the migration transaction)
DELETE FROM audit_log;
