-- hazard: none: plain VACUUM (ANALYZE) (not FULL) runs alongside reads and writes.
-- expect: safe
-- modes: autocommit
-- skip-transaction: VACUUM cannot run inside a transaction block
VACUUM (ANALYZE) orders;
