-- hazard: DISABLE TRIGGER ALL also disables the internal foreign-key triggers: rows written
--   meanwhile are never checked (silent referential-integrity loss), and the ALTER takes a
--   write-blocking lock.
-- expect: disable-trigger
ALTER TABLE orders DISABLE TRIGGER ALL;
