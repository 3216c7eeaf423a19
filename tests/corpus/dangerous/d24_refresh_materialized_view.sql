-- hazard: REFRESH MATERIALIZED VIEW without CONCURRENTLY holds ACCESS EXCLUSIVE on the view while
--   the query reruns: every reader of the view waits.
-- expect: refresh-materialized-view-non-concurrent
REFRESH MATERIALIZED VIEW account_order_totals;
