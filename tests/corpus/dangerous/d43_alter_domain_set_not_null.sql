-- hazard: ALTER DOMAIN ... SET NOT NULL checks every column of every table using the domain
--   (order_items.amount), under a lock that blocks writes to it.
-- expect: domain-constraint-scans-tables, blocking-lock-during-work
ALTER DOMAIN quantity SET NOT NULL;
