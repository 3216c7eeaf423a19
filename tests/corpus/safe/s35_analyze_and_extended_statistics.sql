-- hazard: none: ANALYZE and CREATE STATISTICS take SHARE UPDATE EXCLUSIVE (reads and writes go on).
-- expect: safe
CREATE STATISTICS IF NOT EXISTS orders_account_status_stats (dependencies) ON account_id, status FROM orders;
ANALYZE orders;
