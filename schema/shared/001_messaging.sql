-- Transactional outbox and inbox, in every service's database.

-- Messages written in the same transaction as the state change that causes them; the relay
-- publishes them with publisher confirms and then sets published_at.
CREATE TABLE outbox (
    id             bigserial PRIMARY KEY,
    message_id     text NOT NULL UNIQUE,
    exchange       text NOT NULL,
    routing_key    text NOT NULL,
    type           text NOT NULL,
    correlation_id text,
    reply_to       text,
    mandatory      boolean NOT NULL DEFAULT true,   -- false for events, which may have no subscriber
    headers        jsonb NOT NULL DEFAULT '{}',
    body           text NOT NULL,
    created_at     timestamptz NOT NULL DEFAULT now(),
    published_at   timestamptz,
    attempts       integer NOT NULL DEFAULT 0,
    last_error     text
);
CREATE INDEX outbox_unpublished ON outbox (id) WHERE published_at IS NULL;

-- Wakes the relay (LISTEN outbox) when a transaction that added messages commits.
CREATE FUNCTION outbox_notify() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify('outbox', '');
    RETURN NULL;
END $$;
CREATE TRIGGER outbox_notify AFTER INSERT ON outbox FOR EACH STATEMENT EXECUTE FUNCTION outbox_notify();

-- Every message handled, recorded in the transaction of its effect: a copy has no second effect.
CREATE TABLE inbox (
    message_id  text PRIMARY KEY,
    type        text NOT NULL,
    received_at timestamptz NOT NULL DEFAULT now()
);
