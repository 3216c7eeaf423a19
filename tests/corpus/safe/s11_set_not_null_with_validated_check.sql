-- hazard: none: a validated CHECK (status IS NOT NULL) already proves the column has no NULL, so
--   SET NOT NULL (PostgreSQL 12+) skips the scan; the helper CHECK is then dropped.
-- expect: safe
SET lock_timeout = '2s';
ALTER TABLE accounts ALTER COLUMN status SET NOT NULL;
ALTER TABLE accounts DROP CONSTRAINT accounts_status_not_null;
