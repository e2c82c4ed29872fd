-- The relay deletes rows in the transaction that publishes them (relay.go): an event lives in the
-- outbox only until Kafka has it, and Kafka's retention is the record of what was sent. Marking
-- rows published and deleting them a day later cost every event an update — a new row version and
-- an entry in every index — and a second delete; the unique index on event_id (ids are UUIDv7,
-- generated once per event) and the index for the clean-up only served those kept rows.
DELETE FROM outbox WHERE published_at IS NOT NULL;
DROP INDEX IF EXISTS outbox_published_at;
DROP INDEX IF EXISTS outbox_unpublished;
ALTER TABLE outbox DROP CONSTRAINT IF EXISTS outbox_event_id_key;
ALTER TABLE outbox DROP COLUMN published_at;
-- The relay's queue, in publishing order.
CREATE INDEX outbox_queue ON outbox (txid, id);
