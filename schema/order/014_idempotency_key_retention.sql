-- Idempotency-Keys expire after retention.idempotencyKeys (24 h by default): the pruning reads
-- the oldest through this index.
CREATE INDEX idempotency_keys_created ON idempotency_keys (created_at);
