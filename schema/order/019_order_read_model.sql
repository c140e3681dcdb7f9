-- The orders API's read model. Every order event a saga emits (order.created, the payment's
-- outcome, order.confirmed, order.cancelled, order.failed) is appended to order_events in the
-- transaction that emits it, and folded there into the order's row of order_views (OrderProjection).
-- `ordersaga read-model rebuild` folds order_views again from the log alone.
CREATE TABLE order_events (
    seq      bigserial PRIMARY KEY,
    order_id uuid NOT NULL,
    type     text NOT NULL,
    body     jsonb NOT NULL,   -- CheckoutContracts.OrderEvent, as published on ordersaga.events
    at       timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX order_events_order ON order_events (order_id, seq);
-- The orders imported below, which the order service folds at start while they have no view.
CREATE INDEX order_events_imported ON order_events (order_id) WHERE type = 'order.imported';

CREATE TABLE order_views (
    id          uuid PRIMARY KEY,
    number      bigint NOT NULL UNIQUE,
    owner       text NOT NULL,
    customer_id text NOT NULL,
    status      text NOT NULL,
    created_at  timestamptz NOT NULL,
    updated_at  timestamptz NOT NULL,
    view        jsonb NOT NULL     -- OrderService.OrderReadModel
);
CREATE INDEX order_views_created ON order_views (created_at DESC, id DESC);
CREATE INDEX order_views_customer ON order_views (customer_id, created_at DESC, id DESC);
CREATE INDEX order_views_owner ON order_views (owner, created_at DESC, id DESC);

-- The orders placed before the log began: one order.imported event each, the order as it is now.
-- The order service folds the events of orders without a view when it starts.
INSERT INTO order_events (order_id, type, body)
SELECT o.id, 'order.imported', jsonb_strip_nulls(jsonb_build_object(
    'orderId', o.id::text, 'orderNumber', o.number, 'sagaId', s.id::text, 'customerId', o.customer_id,
    'owner', o.owner, 'cartId', o.cart_id, 'couponCode', o.coupon_code, 'paymentCardId', o.payment_card_id,
    'shippingAddress', o.shipping_address, 'items', coalesce(s.data->'items', o.items),
    'subtotalCents', o.subtotal_cents, 'discountCents', o.discount_cents, 'totalCents', o.total_cents,
    'status', o.status,
    'payment', CASE WHEN s.data->>'chargeId' IS NULL THEN NULL WHEN o.status = 'CANCELLED' THEN 'REFUNDED' ELSE 'CAPTURED' END,
    'createdAt', to_char(o.created_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"'),
    'at', to_char(o.updated_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"')))
FROM orders o JOIN order_sagas s ON s.order_id = o.id AND s.definition_name = 'create_order'
ORDER BY o.created_at, o.id;
