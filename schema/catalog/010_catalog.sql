-- The catalog: products with stock, and one reservation per saga.

CREATE TABLE products (
    id          text PRIMARY KEY,
    name        text NOT NULL,
    price_cents bigint NOT NULL CHECK (price_cents >= 0),
    stock       integer NOT NULL CHECK (stock >= 0)
);

-- RESERVED holds stock for a saga; RELEASED gave it back, or records that a release came first,
-- so a reserve command delivered late has no effect.
CREATE TABLE reservations (
    saga_id    text PRIMARY KEY,
    status     text NOT NULL CHECK (status IN ('RESERVED', 'RELEASED')),
    created_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE reservation_lines (
    saga_id          text NOT NULL REFERENCES reservations (saga_id),
    product_id       text NOT NULL REFERENCES products (id),
    quantity         integer NOT NULL CHECK (quantity > 0),
    unit_price_cents bigint NOT NULL,
    PRIMARY KEY (saga_id, product_id)
);
