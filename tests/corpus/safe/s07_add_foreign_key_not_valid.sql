-- hazard: none: FOREIGN KEY ... NOT VALID only checks new rows; the lock is brief.
-- expect: safe
SET lock_timeout = '2s';
ALTER TABLE audit_log ADD CONSTRAINT audit_log_account_id_fkey
    FOREIGN KEY (account_id) REFERENCES accounts (id) NOT VALID;
