-- hazard: none: '{}'::jsonb is a constant: ADD COLUMN ... NOT NULL DEFAULT '{}' is catalog-only.
-- expect: safe
SET lock_timeout = '2s';
ALTER TABLE accounts ADD COLUMN preferences jsonb NOT NULL DEFAULT '{}'::jsonb;
