-- hazard: ADD FOREIGN KEY without NOT VALID validates every row while holding SHARE ROW EXCLUSIVE
--   on both audit_log and accounts: writes to both tables are blocked during the scan.
-- expect: constraint-validated-in-place
ALTER TABLE audit_log ADD CONSTRAINT audit_log_account_id_fkey
    FOREIGN KEY (account_id) REFERENCES accounts (id);
