-- hazard: ALTER DOMAIN ... ADD CONSTRAINT (without NOT VALID) checks every column of every table
--   that uses the domain, holding locks that block writes to them.
-- expect: domain-constraint-scans-tables
ALTER DOMAIN email_address ADD CONSTRAINT email_address_has_at CHECK (VALUE LIKE '%@%');
