-- The request itself (canonical JSON), compared as text, instead of a hash of it: no second hash
-- function in the code, and an operator can read what a key was used for.
ALTER TABLE idempotency_keys RENAME COLUMN request_hash TO request;
