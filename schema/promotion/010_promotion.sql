-- Coupons and their redemptions, one per saga.

CREATE TABLE coupons (
    code               text PRIMARY KEY,
    percent_off        integer NOT NULL CHECK (percent_off BETWEEN 1 AND 100),
    min_subtotal_cents bigint NOT NULL DEFAULT 0,
    max_redemptions    integer NOT NULL CHECK (max_redemptions >= 0),
    redeemed_count     integer NOT NULL DEFAULT 0 CHECK (redeemed_count >= 0),
    expires_at         timestamptz NOT NULL,
    CHECK (redeemed_count <= max_redemptions)
);

-- REDEEMED counts against the coupon; RELEASED gave it back or records that a release came first.
CREATE TABLE redemptions (
    saga_id        text PRIMARY KEY,
    code           text REFERENCES coupons (code),
    status         text NOT NULL CHECK (status IN ('REDEEMED', 'RELEASED')),
    discount_cents bigint NOT NULL DEFAULT 0,
    created_at     timestamptz NOT NULL DEFAULT now(),
    updated_at     timestamptz NOT NULL DEFAULT now()
);
