-- hazard: none: a data fix of a few rows by primary key and a reference-data INSERT into a table
--   nobody writes yet: row locks on three rows for a moment.
-- expect: safe
INSERT INTO coupons (code) VALUES ('WELCOME10'), ('SPRING25');
UPDATE accounts SET status = 'active' WHERE id IN (1, 2);
DELETE FROM audit_log WHERE id = 7;
