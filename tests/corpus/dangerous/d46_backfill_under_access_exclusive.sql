-- hazard: ADD COLUMN then a full-table UPDATE in the same transaction: the ACCESS EXCLUSIVE lock
--   of the ALTER is held while the UPDATE rewrites every row, so even reads of accounts wait for
--   the whole backfill.
-- expect: backfill-in-migration-transaction, blocking-lock-during-work
-- modes: transaction
-- skip-autocommit: in an autocommit block the ALTER commits first; what remains is the
--   full-table UPDATE of dangerous/d37
SET lock_timeout = '2s';
ALTER TABLE accounts ADD COLUMN tier text;
UPDATE accounts SET tier = CASE WHEN status = 'active' THEN 'pro' ELSE 'free' END;
