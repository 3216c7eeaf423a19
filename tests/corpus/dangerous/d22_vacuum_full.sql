-- hazard: VACUUM FULL rewrites the table under ACCESS EXCLUSIVE: no reads or writes meanwhile.
-- expect: vacuum-full-or-cluster
-- modes: autocommit
-- skip-transaction: VACUUM cannot run inside a transaction block (PostgreSQL refuses it)
VACUUM FULL orders;
