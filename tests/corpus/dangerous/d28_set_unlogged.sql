-- hazard: SET UNLOGGED rewrites the table under ACCESS EXCLUSIVE (and makes it non-crash-safe and
--   absent from replicas).
-- expect: set-table-logged-tablespace-access-method
ALTER TABLE audit_log SET UNLOGGED;
