-- hazard: none: build the unique index CONCURRENTLY, then ADD PRIMARY KEY USING INDEX on a column
--   already NOT NULL: no build and no scan under the lock.
-- expect: safe
-- modes: autocommit
-- skip-transaction: CREATE INDEX CONCURRENTLY cannot run inside a transaction block
SET lock_timeout = '2s';
CREATE UNIQUE INDEX CONCURRENTLY IF NOT EXISTS audit_log_pkey_idx ON audit_log (id);
ALTER TABLE audit_log ADD CONSTRAINT audit_log_pkey PRIMARY KEY USING INDEX audit_log_pkey_idx;
