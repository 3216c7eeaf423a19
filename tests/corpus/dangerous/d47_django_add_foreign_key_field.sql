-- hazard: what Django's AddField(ForeignKey) emits on an existing table: the column and FK are
--   cheap (NULL column), but the index on it is built without CONCURRENTLY, blocking writes to
--   orders for the whole build.
-- expect: create-index-non-concurrent
ALTER TABLE "orders" ADD COLUMN "coupon_id" integer NULL CONSTRAINT "orders_coupon_id_fk_coupons_id"
    REFERENCES "coupons" ("id") DEFERRABLE INITIALLY DEFERRED;
SET CONSTRAINTS "orders_coupon_id_fk_coupons_id" IMMEDIATE;
CREATE INDEX "orders_coupon_id_idx" ON "orders" ("coupon_id");
