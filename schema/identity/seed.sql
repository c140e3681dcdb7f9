INSERT INTO customers (id, name, email) VALUES
    ('cust-ada',   'Ada Lovelace',   'ada@example.com'),
    ('cust-grace', 'Grace Hopper',   'grace@example.com'),
    ('cust-alan',  'Alan Turing',    'alan@example.com')
ON CONFLICT (id) DO NOTHING;
INSERT INTO addresses (id, customer_id, line1, city, postal_code, country) VALUES
    ('addr-ada-home', 'cust-ada', '12 St James''s Square', 'London', 'SW1Y 4JH', 'GB')
ON CONFLICT (id) DO NOTHING;
INSERT INTO payment_cards (id, customer_id, last4, expires_on, limit_cents) VALUES
    ('card-ada-visa',     'cust-ada',   '4242', date '2031-12-31', 500000),
    ('card-grace-low',    'cust-grace', '1111', date '2031-12-31',   1000),
    ('card-alan-expired', 'cust-alan',  '0005', date '2020-01-31', 500000)
ON CONFLICT (id) DO NOTHING;
