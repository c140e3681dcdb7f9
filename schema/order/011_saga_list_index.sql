-- Newest sagas first without a status filter (saga-status list).
CREATE INDEX order_sagas_created ON order_sagas (created_at DESC);
