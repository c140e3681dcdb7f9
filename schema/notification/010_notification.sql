-- Message templates and the notifications sent: one of each kind per saga.

CREATE TABLE templates (
    kind    text PRIMARY KEY CHECK (kind IN ('ORDER_CONFIRMED', 'ORDER_CANCELLED')),
    subject text NOT NULL,
    body    text NOT NULL
);
INSERT INTO templates (kind, subject, body) VALUES
    ('ORDER_CONFIRMED', 'Your order is confirmed', 'Thank you! Order {order} is confirmed: {total}.'),
    ('ORDER_CANCELLED', 'Your order was cancelled', 'Order {order} could not be completed: {reason}. Nothing was charged.');

CREATE TABLE notifications (
    id          bigserial PRIMARY KEY,
    saga_id     text NOT NULL,
    order_id    text NOT NULL,
    customer_id text NOT NULL,
    kind        text NOT NULL REFERENCES templates (kind),
    subject     text NOT NULL,
    body        text NOT NULL,
    created_at  timestamptz NOT NULL DEFAULT now(),
    UNIQUE (saga_id, kind)
);
