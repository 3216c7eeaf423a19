-- hazard: none: now() is STABLE, evaluated once for the ALTER: stored as the missing value, no
--   rewrite.
-- expect: safe
SET lock_timeout = '2s';
ALTER TABLE orders ADD COLUMN imported_at timestamptz NOT NULL DEFAULT now();
