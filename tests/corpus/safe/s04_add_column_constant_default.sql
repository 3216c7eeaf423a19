-- hazard: none: since PostgreSQL 11 a constant DEFAULT (even NOT NULL) is stored in the catalog;
--   no rewrite, the ACCESS EXCLUSIVE lock is held for a moment only.
-- expect: safe
SET lock_timeout = '2s';
ALTER TABLE accounts ADD COLUMN plan text NOT NULL DEFAULT 'free';
