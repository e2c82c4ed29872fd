-- Transactional outbox. Outbox.Publish inserts a row in the caller's business transaction, so the
-- event exists exactly when the state change that caused it commits; the Relay publishes rows to
-- Kafka in (txid, id) order and stamps published_at in the same transaction that held its lock.
-- Published rows are kept for RelayConfig.Retention (default 24h) so "was event X sent, and when?"
-- can be answered from the database, then deleted by the relay.
CREATE TABLE outbox (
    id           bigserial   PRIMARY KEY,
    -- The inserting transaction's id. Ids from a sequence are handed out at INSERT but become
    -- visible at COMMIT, so a smaller id can appear after a bigger one; the relay only takes rows
    -- whose txid is older than every transaction still running (see relay.go).
    txid         xid8        NOT NULL DEFAULT pg_current_xact_id(),
    event_id     uuid        NOT NULL UNIQUE,            -- ce_id
    topic        text        NOT NULL,
    key          text        NOT NULL,                   -- Kafka record key: the entity that orders the events
    ce_type      text        NOT NULL,                   -- protobuf full name of the payload
    ce_source    text        NOT NULL,                   -- publishing service
    ce_time      timestamptz NOT NULL,
    payload      bytea       NOT NULL,                   -- protobuf binary
    headers      jsonb       NOT NULL DEFAULT '{}',      -- extra headers, e.g. trace context
    published_at timestamptz
);

-- The relay's queue: only unpublished rows, already in publishing order, so the index stays tiny
-- however many published rows are retained.
CREATE INDEX outbox_unpublished ON outbox (txid, id) WHERE published_at IS NULL;
-- Retention clean-up.
CREATE INDEX outbox_published_at ON outbox (published_at) WHERE published_at IS NOT NULL;

-- Wake relays within milliseconds of a commit (NOTIFY is delivered at commit, and not at all on
-- rollback); relays also poll, so a lost notification only costs latency. One notification per
-- statement, and Postgres folds identical notifications of one transaction into one.
CREATE FUNCTION outbox_notify() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify('events_outbox', '');
    RETURN NULL;
END
$$;
CREATE TRIGGER outbox_notify AFTER INSERT ON outbox FOR EACH STATEMENT EXECUTE FUNCTION outbox_notify();

-- Idempotent consumers: a row per (group, event) handled, inserted in the same transaction as the
-- handler's effect, so a redelivered event finds its row and has no second effect. Rows older than
-- ConsumerConfig.InboxRetention (default 30 days, longer than Kafka keeps records by default) are
-- deleted by the consumer: no redelivery can come from that far back.
CREATE TABLE inbox (
    consumer_group text        NOT NULL,
    event_id       uuid        NOT NULL,
    processed_at   timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (consumer_group, event_id)
);
CREATE INDEX inbox_processed_at ON inbox (consumer_group, processed_at);
