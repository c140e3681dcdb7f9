-- A saga's history rows are written by the one statement that writes the saga's own row (its
-- insert or update, with the history and the outbox rows, in PostgresSagaStore.store), and no
-- saga is ever deleted, so the foreign key to order_sagas could never fail. Its check still ran
-- for every row, about eleven per saga, each a trigger and a probe of order_sagas' primary key:
-- about 3 % of PostgreSQL's CPU (BENCHMARKS.md, section 14).
ALTER TABLE saga_history DROP CONSTRAINT IF EXISTS saga_history_saga_id_fkey;
