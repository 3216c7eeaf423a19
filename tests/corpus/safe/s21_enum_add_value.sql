-- hazard: none: ALTER TYPE ... ADD VALUE appends to the enum without touching any table
--   (allowed in a transaction since PostgreSQL 12).
-- expect: safe
ALTER TYPE order_status ADD VALUE IF NOT EXISTS 'refunded';
