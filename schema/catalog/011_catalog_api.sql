-- The catalog's REST API: when a product was made and last changed, and every change to its stock
-- made through the API (reservations and releases are in reservations and reservation_lines), so
-- that a product's stock history can be shown and the invariants can count the changes.

ALTER TABLE products
    ADD COLUMN created_at timestamptz NOT NULL DEFAULT now(),
    ADD COLUMN updated_at timestamptz NOT NULL DEFAULT now();

CREATE TABLE stock_adjustments (
    id          bigserial PRIMARY KEY,
    product_id  text NOT NULL REFERENCES products (id),
    delta       integer NOT NULL,
    stock_after integer NOT NULL CHECK (stock_after >= 0),
    reason      text NOT NULL,
    -- Who made it: the credential's principal (key:<id> or jwt:<sub>).
    actor       text NOT NULL,
    created_at  timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX stock_adjustments_product ON stock_adjustments (product_id, created_at);
