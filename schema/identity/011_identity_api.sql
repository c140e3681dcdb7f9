-- The identity service's REST API: customers can be deactivated (their cards are then refused),
-- a card keeps only its brand and last four digits and can be removed (kept for its charges,
-- refused from then on), and each customer's addresses and cards are found by an index.

ALTER TABLE customers
    ADD COLUMN active     boolean NOT NULL DEFAULT true,
    ADD COLUMN created_at timestamptz NOT NULL DEFAULT now();

ALTER TABLE payment_cards
    ADD COLUMN brand      text NOT NULL DEFAULT 'card',
    ADD COLUMN removed_at timestamptz,
    ADD COLUMN created_at timestamptz NOT NULL DEFAULT now();

CREATE INDEX addresses_customer ON addresses (customer_id);
CREATE INDEX payment_cards_customer ON payment_cards (customer_id);
CREATE INDEX charges_card ON charges (card_id);
