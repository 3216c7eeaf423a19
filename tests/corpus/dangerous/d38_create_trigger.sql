-- hazard: CREATE TRIGGER takes SHARE ROW EXCLUSIVE on orders (blocks writes) with no lock_timeout:
--   queued behind a long transaction it stalls every writer behind it; and the new trigger
--   changes the behaviour of every write by the running application.
-- expect: lock-without-timeout
CREATE FUNCTION orders_audit() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO audit_log (account_id, action) VALUES (NEW.account_id, TG_OP);
    RETURN NEW;
END $$;
CREATE TRIGGER orders_audit AFTER INSERT OR UPDATE ON orders FOR EACH ROW EXECUTE FUNCTION orders_audit();
