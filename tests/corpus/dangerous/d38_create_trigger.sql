-- hazard: CREATE TRIGGER takes SHARE ROW EXCLUSIVE on orders (blocks writes) with no lock_timeout:
--   queued behind a long transaction it stalls every writer behind it; and the new trigger
--   changes the behaviour of every write by the running application.
-- expect: lock-without-timeout
-- xfail-transaction: verdict "safe": only a warning, lock-without-timeout: "takes SHARE ROW
--   EXCLUSIVE on orders with no lock_timeout: while it waits for the lock, every later query on
--   orders queues behind it." (no rule makes CREATE TRIGGER on an existing table an error)
-- xfail-autocommit: verdict "safe": only the same warning, lock-without-timeout: "takes SHARE ROW
--   EXCLUSIVE on orders with no lock_timeout: while it waits for the lock, every later query on
--   orders queues behind it."
CREATE FUNCTION orders_audit() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO audit_log (account_id, action) VALUES (NEW.account_id, TG_OP);
    RETURN NEW;
END $$;
CREATE TRIGGER orders_audit AFTER INSERT OR UPDATE ON orders FOR EACH ROW EXECUTE FUNCTION orders_audit();
