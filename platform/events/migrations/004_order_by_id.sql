-- The relay publishes in id order and no longer needs each row's transaction id. Ids come from a
-- sequence when a row is inserted, so for writers that serialise on a key before they write (the
-- rule Outbox.Publish states) id order is their commit order on that key — and unlike txid, which
-- a transaction takes at its first write, the id is taken under the key's lock even when the
-- transaction wrote something else before (a consumer's inbox row). One index less per event.
DROP INDEX IF EXISTS outbox_queue;
ALTER TABLE outbox DROP COLUMN txid;
