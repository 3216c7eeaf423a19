-- Seed schema for the migration-safety corpus (tests/test_corpus.py).
-- Every corpus file runs as its own Alembic revision on a fresh copy of this database, so every
-- table here is "pre-existing" and holds a few thousand rows.

CREATE TYPE order_status AS ENUM ('new', 'paid', 'shipped', 'cancelled');
CREATE DOMAIN email_address AS text;
CREATE DOMAIN quantity AS integer;

CREATE TABLE accounts (
    id          bigserial PRIMARY KEY,
    email       email_address NOT NULL,
    name        varchar(100),
    status      text,
    balance     numeric(12, 2) NOT NULL DEFAULT 0,
    settings    json,
    created_at  timestamptz NOT NULL DEFAULT now(),
    deleted_at  timestamptz,
    -- already validated: lets SET NOT NULL skip its scan
    CONSTRAINT accounts_status_not_null CHECK (status IS NOT NULL)
);
CREATE INDEX accounts_created_at_idx ON accounts (created_at);
CREATE UNIQUE INDEX accounts_email_uniq ON accounts (email);

CREATE TABLE orders (
    id          bigserial PRIMARY KEY,
    account_id  bigint NOT NULL REFERENCES accounts (id),
    status      order_status NOT NULL DEFAULT 'new',
    total       numeric(12, 2),
    qty         integer,
    note        varchar(50),
    ref_code    text,
    placed_at   timestamptz
);
CREATE INDEX orders_account_id_idx ON orders (account_id);
CREATE INDEX orders_status_idx ON orders (status);

CREATE TABLE order_items (
    id          serial PRIMARY KEY,
    order_id    bigint NOT NULL,
    sku         text NOT NULL,
    amount      quantity NOT NULL
);
CREATE INDEX order_items_order_id_idx ON order_items (order_id);
-- left NOT VALID on purpose: the safe corpus validates them in their own revision
ALTER TABLE order_items ADD CONSTRAINT order_items_order_id_fkey
    FOREIGN KEY (order_id) REFERENCES orders (id) NOT VALID;
ALTER TABLE order_items ADD CONSTRAINT order_items_amount_positive CHECK (amount > 0) NOT VALID;

-- no primary key yet; id is NOT NULL (bigserial)
CREATE TABLE audit_log (
    id          bigserial,
    account_id  bigint,
    action      text NOT NULL,
    at          timestamptz NOT NULL DEFAULT now()
);
CREATE UNIQUE INDEX audit_log_id_uniq ON audit_log (id);

-- exists, but no rows yet (still in use by the application)
CREATE TABLE coupons (
    id          serial PRIMARY KEY,
    code        text NOT NULL
);

CREATE TABLE bookings (
    id          serial PRIMARY KEY,
    room        integer NOT NULL,
    during      tstzrange NOT NULL
);

-- partitioned, with a DEFAULT partition
CREATE TABLE events (
    id          bigint NOT NULL,
    created_at  timestamptz NOT NULL,
    kind        text,
    payload     jsonb
) PARTITION BY RANGE (created_at);
CREATE TABLE events_2025 PARTITION OF events FOR VALUES FROM ('2025-01-01') TO ('2026-01-01');
CREATE TABLE events_2026 PARTITION OF events FOR VALUES FROM ('2026-01-01') TO ('2027-01-01');
CREATE TABLE events_default PARTITION OF events DEFAULT;
CREATE INDEX events_created_at_idx ON events (created_at);
-- a filled standalone table, to be attached without a matching CHECK
CREATE TABLE events_2027 (LIKE events INCLUDING DEFAULTS);

-- partitioned, no DEFAULT partition (so DETACH ... CONCURRENTLY is allowed)
CREATE TABLE measurements (
    sensor_id   integer NOT NULL,
    recorded_on date NOT NULL,
    value       double precision
) PARTITION BY RANGE (recorded_on);
CREATE TABLE measurements_2025 PARTITION OF measurements FOR VALUES FROM ('2025-01-01') TO ('2026-01-01');
CREATE TABLE measurements_2026 PARTITION OF measurements FOR VALUES FROM ('2026-01-01') TO ('2027-01-01');
CREATE INDEX measurements_recorded_on_idx ON measurements (recorded_on);
-- standalone, with the CHECK that proves its future bounds and the parent's index already built
CREATE TABLE measurements_2027 (LIKE measurements INCLUDING DEFAULTS,
    CONSTRAINT measurements_2027_bounds CHECK (recorded_on >= '2027-01-01' AND recorded_on < '2028-01-01'));
CREATE INDEX measurements_2027_recorded_on_idx ON measurements_2027 (recorded_on);

CREATE MATERIALIZED VIEW account_order_totals AS
    SELECT account_id, count(*) AS orders, sum(total) AS total FROM orders GROUP BY account_id;
CREATE UNIQUE INDEX account_order_totals_account_id_idx ON account_order_totals (account_id);

CREATE FUNCTION touch_deleted_at() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RETURN NEW;
END $$;
CREATE TRIGGER accounts_touch BEFORE UPDATE ON accounts FOR EACH ROW EXECUTE FUNCTION touch_deleted_at();

INSERT INTO accounts (email, name, status, balance, settings, created_at)
SELECT 'user' || g || '@example.com', 'User ' || g, CASE WHEN g % 3 = 0 THEN 'active' ELSE 'trial' END,
       g % 500, json_build_object('theme', 'dark', 'n', g), '2025-01-01'::timestamptz + g * interval '1 hour'
FROM generate_series(1, 3000) g;

INSERT INTO orders (account_id, status, total, qty, note, ref_code, placed_at)
SELECT 1 + g % 3000, (ARRAY['new', 'paid', 'shipped']::order_status[])[1 + g % 3], g % 1000 + 0.5, 1 + g % 7,
       NULL, 'R' || g, '2025-06-01'::timestamptz + g * interval '10 minutes'
FROM generate_series(1, 5000) g;

INSERT INTO order_items (order_id, sku, amount)
SELECT 1 + g % 5000, 'SKU-' || (g % 97), 1 + g % 4 FROM generate_series(1, 8000) g;

INSERT INTO audit_log (account_id, action, at)
SELECT 1 + g % 3000, 'login', '2025-01-01'::timestamptz + g * interval '1 minute' FROM generate_series(1, 4000) g;

INSERT INTO bookings (room, during)
SELECT 1 + g % 50, tstzrange('2025-01-01'::timestamptz + g * interval '1 day', '2025-01-01'::timestamptz + g * interval '1 day' + interval '2 hours')
FROM generate_series(1, 2000) g;

INSERT INTO events (id, created_at, kind, payload)
SELECT g, '2025-01-01'::timestamptz + g * interval '3 hours', 'click', jsonb_build_object('g', g)
FROM generate_series(1, 5000) g;
INSERT INTO events (id, created_at, kind, payload)  -- rows the DEFAULT partition holds
SELECT 100000 + g, '2030-01-01'::timestamptz + g * interval '1 day', 'late', '{}' FROM generate_series(1, 200) g;
INSERT INTO events_2027 (id, created_at, kind, payload)
SELECT g, '2027-01-01'::timestamptz + g * interval '1 hour', 'click', '{}' FROM generate_series(1, 2000) g;

INSERT INTO measurements (sensor_id, recorded_on, value)
SELECT g % 20, '2025-01-01'::date + (g % 700), g * 0.1 FROM generate_series(1, 5000) g;
INSERT INTO measurements_2027 (sensor_id, recorded_on, value)
SELECT g % 20, '2027-01-01'::date + (g % 300), g * 0.1 FROM generate_series(1, 2000) g;

REFRESH MATERIALIZED VIEW account_order_totals;
ANALYZE;
