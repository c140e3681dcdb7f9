-- Carts as an event log: a cart's state is rebuilt from its events, never stored.

CREATE TABLE cart_events (
    cart_id     text NOT NULL,
    seq         integer NOT NULL CHECK (seq > 0),
    type        text NOT NULL CHECK (type IN ('CART_CREATED', 'ITEM_ADDED', 'CART_CONVERTED', 'CART_RESTORED')),
    customer_id text NOT NULL,
    saga_id     text,
    data        jsonb NOT NULL DEFAULT '{}',
    at          timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (cart_id, seq)
);
CREATE INDEX cart_events_saga ON cart_events (saga_id) WHERE saga_id IS NOT NULL;

-- What each saga did to a cart: CONVERTED, or RESTORED (also when a restore came first, so a
-- convert command delivered late has no effect).
CREATE TABLE cart_conversions (
    saga_id    text PRIMARY KEY,
    cart_id    text,
    status     text NOT NULL CHECK (status IN ('CONVERTED', 'RESTORED')),
    created_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now()
);
