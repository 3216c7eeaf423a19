-- hazard: none: REFRESH ... CONCURRENTLY (the view has a unique index) lets readers go on.
-- expect: safe
REFRESH MATERIALIZED VIEW CONCURRENTLY account_order_totals;
