-- hazard: json -> jsonb converts every value: a full table rewrite under ACCESS EXCLUSIVE.
-- expect: alter-column-type-rewrites
ALTER TABLE accounts ALTER COLUMN settings TYPE jsonb USING settings::jsonb;
