-- Customers, their addresses and payment cards, and one charge per saga.

CREATE TABLE customers (
    id    text PRIMARY KEY,
    name  text NOT NULL,
    email text NOT NULL
);

CREATE TABLE addresses (
    id          text PRIMARY KEY,
    customer_id text NOT NULL REFERENCES customers (id),
    line1       text NOT NULL,
    city        text NOT NULL,
    postal_code text NOT NULL,
    country     text NOT NULL
);

CREATE TABLE payment_cards (
    id          text PRIMARY KEY,
    customer_id text NOT NULL REFERENCES customers (id),
    last4       text NOT NULL,
    expires_on  date NOT NULL,          -- the last day the card is valid
    limit_cents bigint NOT NULL CHECK (limit_cents >= 0)
);

-- CAPTURED took the money; REFUNDED gave it back or records that a refund came first.
CREATE TABLE charges (
    saga_id      text PRIMARY KEY,
    card_id      text REFERENCES payment_cards (id),
    amount_cents bigint NOT NULL DEFAULT 0,
    status       text NOT NULL CHECK (status IN ('CAPTURED', 'REFUNDED')),
    created_at   timestamptz NOT NULL DEFAULT now(),
    updated_at   timestamptz NOT NULL DEFAULT now()
);
