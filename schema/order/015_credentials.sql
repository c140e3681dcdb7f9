-- Credentials: every API call but /health, /ready and /metrics needs one (`ordersaga api-key`).
-- Only the SHA-256 of a key is stored; the key itself is shown once, when it is created.
CREATE TABLE api_keys (
    id          text PRIMARY KEY,           -- the 12 hex digits after osk_, safe to show and log
    name        text NOT NULL,
    hash        text NOT NULL,              -- SHA-256 of the whole key, in hex
    scopes      text NOT NULL,              -- space-separated: checkout, admin
    rate_limit  integer CHECK (rate_limit >= 0),  -- requests a second; NULL: api.rateLimit; 0: none
    created_at  timestamptz NOT NULL DEFAULT now(),
    revoked_at  timestamptz
);

-- Who placed each order (key:<id> or jwt:<sub>): a checkout credential reads only its own.
-- Orders placed before credentials existed belong to no one but the admins.
ALTER TABLE orders ADD COLUMN owner text NOT NULL DEFAULT '';

-- Idempotency-Keys are each credential's own: two clients cannot collide, or read each other's orders.
ALTER TABLE idempotency_keys ADD COLUMN owner text NOT NULL DEFAULT '';
ALTER TABLE idempotency_keys DROP CONSTRAINT idempotency_keys_pkey;
ALTER TABLE idempotency_keys ADD PRIMARY KEY (owner, key);
