-- hazard: ADD CONSTRAINT ... UNIQUE builds a new unique index while holding ACCESS EXCLUSIVE on
--   orders (an existing index is not reused unless USING INDEX names it).
-- expect: unique-constraint-builds-index
ALTER TABLE orders ADD CONSTRAINT orders_ref_code_key UNIQUE (ref_code);
