-- A saga's step rewrites its row (state, data, deadline, version) and nothing indexed, so
-- PostgreSQL can update it in place (a HOT update: no new entry in any of the table's indexes,
-- less WAL, less for autovacuum). The deadline's own index made every step's update touch every
-- index; the sweeper finds due sagas among those in flight through order_sagas_status instead
-- (only a running or compensating saga has a deadline).
DROP INDEX order_sagas_deadline;
-- Room on each new page for a row's next versions, which PostgreSQL prunes on the page as it
-- goes; the price is about 30 % more room for the rows of ended sagas.
ALTER TABLE order_sagas SET (fillfactor = 70);
