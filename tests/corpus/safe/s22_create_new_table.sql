-- hazard: none: a new table, its indexes and a foreign key from it (the FK locks accounts only
--   for a moment, and the new table is empty).
-- expect: safe
SET lock_timeout = '2s';
CREATE TABLE invoices (
    id          bigserial PRIMARY KEY,
    account_id  bigint NOT NULL REFERENCES accounts (id),
    amount      numeric(12, 2) NOT NULL,
    issued_at   timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX invoices_account_id_idx ON invoices (account_id);
CREATE UNIQUE INDEX invoices_issued_idx ON invoices (account_id, issued_at);
