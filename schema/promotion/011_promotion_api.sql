-- The promotion service's REST API: a coupon takes a percentage or a fixed amount off, may start
-- later than it is made, and may limit how often one customer redeems it; each redemption
-- records its customer, so that limit can be counted.

ALTER TABLE coupons
    ALTER COLUMN percent_off DROP NOT NULL,
    ADD COLUMN amount_off_cents bigint CHECK (amount_off_cents > 0),
    ADD COLUMN max_per_customer integer CHECK (max_per_customer > 0),
    ADD COLUMN starts_at timestamptz NOT NULL DEFAULT '-infinity',
    ADD COLUMN created_at timestamptz NOT NULL DEFAULT now(),
    ADD CONSTRAINT coupons_one_kind CHECK ((percent_off IS NULL) <> (amount_off_cents IS NULL));

ALTER TABLE redemptions ADD COLUMN customer_id text;
CREATE INDEX redemptions_code_customer ON redemptions (code, customer_id) WHERE status = 'REDEEMED';
