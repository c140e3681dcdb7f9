INSERT INTO products (id, name, price_cents, stock) VALUES
    ('sku-espresso', 'Espresso beans 1 kg', 2490, 100),
    ('sku-grinder',  'Burr grinder',        8900,  20),
    ('sku-mug',      'Stoneware mug',        1250, 250),
    ('sku-kettle',   'Gooseneck kettle',     5400,   5)
ON CONFLICT (id) DO NOTHING;
