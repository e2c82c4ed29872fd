-- Publish now sends the relay's wake-up NOTIFY itself when Outbox.WakeRelay is on (the default), so
-- each service chooses between latency and commit throughput in code instead of every outbox insert
-- paying for NOTIFY's commit-time lock (see Outbox.WakeRelay).
DROP TRIGGER IF EXISTS outbox_notify ON outbox;
DROP FUNCTION IF EXISTS outbox_notify();
