INSERT INTO coupons (code, percent_off, min_subtotal_cents, max_redemptions, expires_at) VALUES
    ('WELCOME10', 10,     0, 1000, now() + interval '365 days'),
    ('BIG20',     20, 10000,  100, now() + interval '365 days'),
    ('EXPIRED5',   5,     0,  100, now() - interval '1 day'),
    ('ONCE50',    50,     0,    1, now() + interval '365 days')
ON CONFLICT (code) DO NOTHING;
