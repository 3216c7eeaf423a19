-- hazard: none: Django's AddField with a constant default on PostgreSQL 11+: the default is stored
--   in the catalog (no rewrite), then dropped so that only the application supplies it.
-- expect: safe
SET lock_timeout = '2s';
ALTER TABLE "accounts" ADD COLUMN "is_staff" boolean DEFAULT false NOT NULL;
ALTER TABLE "accounts" ALTER COLUMN "is_staff" DROP DEFAULT;
