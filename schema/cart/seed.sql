INSERT INTO cart_events (cart_id, seq, type, customer_id, data) VALUES
    ('cart-ada-1',   1, 'CART_CREATED', 'cust-ada',   '{}'),
    ('cart-ada-1',   2, 'ITEM_ADDED',   'cust-ada',   '{"productId": "sku-espresso", "quantity": 2}'),
    ('cart-ada-2',   1, 'CART_CREATED', 'cust-ada',   '{}'),
    ('cart-ada-3',   1, 'CART_CREATED', 'cust-ada',   '{}'),
    ('cart-grace-1', 1, 'CART_CREATED', 'cust-grace', '{}'),
    ('cart-alan-1',  1, 'CART_CREATED', 'cust-alan',  '{}')
ON CONFLICT (cart_id, seq) DO NOTHING;
