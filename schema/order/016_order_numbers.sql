-- Orders people can find: a number to read out on the phone, and lists by time, by customer and
-- by the credential that placed them, newest first (keyset pages on created_at, id).
CREATE SEQUENCE order_numbers START 1001;
ALTER TABLE orders ADD COLUMN number bigint;
UPDATE orders o SET number = numbered.n
FROM (SELECT id, 1000 + row_number() OVER (ORDER BY created_at, id) AS n FROM orders) numbered
WHERE o.id = numbered.id;
SELECT setval('order_numbers', coalesce((SELECT max(number) FROM orders), 1000) + 1, false);
ALTER TABLE orders ALTER COLUMN number SET DEFAULT nextval('order_numbers');
ALTER TABLE orders ALTER COLUMN number SET NOT NULL;
ALTER SEQUENCE order_numbers OWNED BY orders.number;
CREATE UNIQUE INDEX orders_number ON orders (number);
CREATE INDEX orders_created ON orders (created_at DESC, id DESC);
CREATE INDEX orders_customer ON orders (customer_id, created_at DESC, id DESC);
CREATE INDEX orders_owner ON orders (owner, created_at DESC, id DESC);
