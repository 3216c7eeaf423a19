-- hazard: an explicit LOCK TABLE ... ACCESS EXCLUSIVE blocks every read and write of accounts
--   until the migration's transaction ends.
-- expect: lock-table
-- modes: transaction
-- skip-autocommit: LOCK TABLE can only be used in transaction blocks (PostgreSQL refuses it in
--   autocommit)
LOCK TABLE accounts IN ACCESS EXCLUSIVE MODE;
UPDATE accounts SET status = 'active' WHERE id = 1;
