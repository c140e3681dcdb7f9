-- The notice a customer gets when a confirmed order is cancelled (the cancel_order saga's last
-- step): it was charged, so it says what was refunded.
ALTER TABLE templates DROP CONSTRAINT templates_kind_check;
ALTER TABLE templates ADD CONSTRAINT templates_kind_check CHECK (kind IN ('ORDER_CONFIRMED', 'ORDER_CANCELLED', 'ORDER_REFUNDED'));
INSERT INTO templates (kind, subject, body) VALUES
    ('ORDER_REFUNDED', 'Your order was cancelled and refunded', 'Order {order} was cancelled: {reason}. {total} was refunded to your card.');
CREATE INDEX notifications_order ON notifications (order_id);
