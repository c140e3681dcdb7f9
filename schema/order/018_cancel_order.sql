-- A confirmed order may get a second saga: the cancel_order saga that undoes it. At most one
-- saga of each kind per order; the unique index also serves every lookup by order.
ALTER TABLE order_sagas DROP CONSTRAINT order_sagas_order_id_key;
ALTER TABLE order_sagas ADD CONSTRAINT order_sagas_order_kind UNIQUE (order_id, definition_name);
