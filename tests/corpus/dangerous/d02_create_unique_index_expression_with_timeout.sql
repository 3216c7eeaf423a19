-- hazard: a lock_timeout does not make a non-concurrent index build safe: once the SHARE lock is
--   granted, writes to accounts are blocked for the whole (unique, expression) build.
-- expect: create-index-non-concurrent
SET lock_timeout = '3s';
CREATE UNIQUE INDEX accounts_lower_email_idx ON accounts (lower(email));
