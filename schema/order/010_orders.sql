-- The order service: orders, the create_order saga state machine and its history.

CREATE TABLE orders (
    id               uuid PRIMARY KEY,
    customer_id      text NOT NULL,
    cart_id          text NOT NULL,
    coupon_code      text,
    payment_card_id  text NOT NULL,
    shipping_address jsonb NOT NULL,
    items            jsonb NOT NULL,
    status           text NOT NULL CHECK (status IN ('PENDING', 'CONFIRMED', 'CANCELLED', 'FAILED')),
    subtotal_cents   bigint,
    discount_cents   bigint,
    total_cents      bigint,
    created_at       timestamptz NOT NULL DEFAULT now(),
    updated_at       timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE order_sagas (
    id                 uuid PRIMARY KEY,
    order_id           uuid NOT NULL UNIQUE REFERENCES orders (id),
    definition_name    text NOT NULL,
    definition_version integer NOT NULL,
    status             text NOT NULL CHECK (status IN ('RUNNING', 'COMPENSATING', 'COMPLETED', 'COMPENSATED', 'FAILED')),
    state              jsonb NOT NULL,   -- SagaCore.SagaState
    data               jsonb NOT NULL,   -- the saga's typed data (CreateOrderData)
    deadline_at        timestamptz,      -- compared with the database's now() by the sweeper
    traceparent        text NOT NULL,
    created_at         timestamptz NOT NULL DEFAULT now(),
    updated_at         timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX order_sagas_deadline ON order_sagas (deadline_at) WHERE deadline_at IS NOT NULL;
CREATE INDEX order_sagas_status ON order_sagas (status, created_at DESC);

CREATE TABLE saga_history (
    id       bigserial PRIMARY KEY,
    saga_id  uuid NOT NULL REFERENCES order_sagas (id),
    at       timestamptz NOT NULL DEFAULT clock_timestamp(),
    event    text NOT NULL,
    step     text,
    attempt  integer,
    detail   text
);
CREATE INDEX saga_history_saga ON saga_history (saga_id, id);

-- A client's Idempotency-Key: the same key answers with the same order.
CREATE TABLE idempotency_keys (
    key          text PRIMARY KEY,
    request_hash text NOT NULL,
    order_id     uuid NOT NULL,   -- claimed before the order is written, in the same transaction
    saga_id      uuid NOT NULL,
    created_at   timestamptz NOT NULL DEFAULT now()
);

-- Every definition version the service has run, as parsed. A saga keeps running the version it
-- started with; changing a file without raising its version stops the service.
CREATE TABLE saga_definitions (
    name        text NOT NULL,
    version     integer NOT NULL,
    definition  jsonb NOT NULL,
    created_at  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (name, version)
);
