-- hazard: none: renaming an index changes no query (the planner picks indexes by definition,
--   not name) and takes only SHARE UPDATE EXCLUSIVE (PostgreSQL 12+).
-- expect: safe
ALTER INDEX orders_status_idx RENAME TO orders_status_ix;
