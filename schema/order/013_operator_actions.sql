-- Operators act on sagas (retry, skip, compensate, abort). Every write to a saga raises its
-- version, so an operator who acted on what they saw (If-Match) is told when someone else, or a
-- reply, changed the saga first. A history line caused by an operator names them.
ALTER TABLE order_sagas ADD COLUMN version bigint NOT NULL DEFAULT 0;
ALTER TABLE saga_history ADD COLUMN actor text;
