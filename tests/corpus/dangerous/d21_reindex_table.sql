-- hazard: REINDEX TABLE rebuilds every index of orders, blocking writes for the whole time.
-- expect: reindex-non-concurrent
REINDEX TABLE orders;
