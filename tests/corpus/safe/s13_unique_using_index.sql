-- hazard: none: ADD CONSTRAINT ... UNIQUE USING INDEX adopts an index built earlier: no build under
--   the lock.
-- expect: safe
SET lock_timeout = '2s';
ALTER TABLE accounts ADD CONSTRAINT accounts_email_key UNIQUE USING INDEX accounts_email_uniq;
