-- hazard: CLUSTER rewrites the table in index order under ACCESS EXCLUSIVE.
-- expect: vacuum-full-or-cluster
CLUSTER orders USING orders_account_id_idx;
