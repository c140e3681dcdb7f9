-- The cart service's REST API: items are also set to a quantity or removed, and a cart made
-- through the API belongs to the credential that made it (CART_CREATED's data.owner).

ALTER TABLE cart_events DROP CONSTRAINT cart_events_type_check;
ALTER TABLE cart_events ADD CONSTRAINT cart_events_type_check CHECK (
    type IN ('CART_CREATED', 'ITEM_ADDED', 'ITEM_QUANTITY_SET', 'ITEM_REMOVED', 'CART_CONVERTED', 'CART_RESTORED'));

-- A customer's carts, newest first.
CREATE INDEX cart_events_customer ON cart_events (customer_id, at) WHERE type = 'CART_CREATED';
