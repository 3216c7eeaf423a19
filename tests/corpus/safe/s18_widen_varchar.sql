-- hazard: none: widening varchar(100) to varchar(255) is binary compatible: no rewrite, no scan, no
--   index rebuild.
-- expect: safe
SET lock_timeout = '2s';
ALTER TABLE accounts ALTER COLUMN name TYPE varchar(255);
