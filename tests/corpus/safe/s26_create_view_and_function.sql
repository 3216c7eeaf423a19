-- hazard: none: a new view and a new function touch no table data.
-- expect: safe
CREATE VIEW paid_orders AS SELECT id, account_id, total FROM orders WHERE status = 'paid';
CREATE FUNCTION order_count(acc bigint) RETURNS bigint LANGUAGE sql STABLE AS
    $$ SELECT count(*) FROM orders WHERE account_id = acc $$;
