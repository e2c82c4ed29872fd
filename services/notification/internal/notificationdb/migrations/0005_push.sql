-- The push channel (Web Push). push_enabled is the push master switch (default on: nothing is
-- pushed until a browser subscribes), push_previews puts message text in pushes (default off).
ALTER TABLE recipients
    ADD COLUMN push_enabled  boolean NOT NULL DEFAULT true,
    ADD COLUMN push_previews boolean NOT NULL DEFAULT false;

-- A browser's push subscription: the endpoint (the push service URL, unique: it belongs to one
-- user at a time), the browser's P-256 key (p256dh, 65 bytes) and auth secret (16 bytes), a label,
-- and the session that registered it (the token's sid; SessionRevoked removes it).
CREATE TABLE push_subscriptions (
    subscription_id uuid        PRIMARY KEY,
    user_id         uuid        NOT NULL,
    endpoint        text        NOT NULL UNIQUE,
    p256dh          bytea       NOT NULL CHECK (length(p256dh) = 65),
    auth            bytea       NOT NULL CHECK (length(auth) = 16),
    device_label    text        NOT NULL DEFAULT '',
    session_id      text        NOT NULL DEFAULT '',
    created_at      timestamptz NOT NULL,
    updated_at      timestamptz NOT NULL
);
CREATE INDEX push_subscriptions_user ON push_subscriptions (user_id, updated_at DESC);
CREATE INDEX push_subscriptions_session ON push_subscriptions (user_id, session_id) WHERE session_id <> '';

-- The push outbox, shaped like email_deliveries: one row per (cause, subscription), written in
-- the transaction that raised the notification (state pending), claimed with a lease (sending,
-- attempts + 1, next_attempt_at = the lease's end) before the request, then marked sent, pending
-- again (next_attempt_at = the retry), skipped (the recipient was online) or failed. payload is the
-- plaintext PushPayload (proto3 JSON), encrypted for the subscription at each attempt and emptied
-- once the push is finished. topic ("" or the chat id's hex digits) collapses a chat's pushes.
CREATE TABLE push_deliveries (
    delivery_id     uuid        PRIMARY KEY,
    subscription_id uuid        NOT NULL REFERENCES push_subscriptions ON DELETE CASCADE,
    dedup_key       text        NOT NULL,
    user_id         uuid        NOT NULL,
    actor_user_id   text        NOT NULL DEFAULT '',
    kind            smallint    NOT NULL,
    topic           text        NOT NULL DEFAULT '',
    urgency         text        NOT NULL,
    payload         bytea       NOT NULL,
    state           text        NOT NULL DEFAULT 'pending' CHECK (state IN ('pending', 'sending', 'sent', 'skipped', 'failed')),
    attempts        integer     NOT NULL DEFAULT 0,
    next_attempt_at timestamptz NOT NULL,
    last_error      text        NOT NULL DEFAULT '',
    created_at      timestamptz NOT NULL,
    sent_at         timestamptz,
    UNIQUE (dedup_key, subscription_id)
);
CREATE INDEX push_deliveries_due ON push_deliveries (next_attempt_at) WHERE state IN ('pending', 'sending');
CREATE INDEX push_deliveries_subscription ON push_deliveries (subscription_id);
CREATE INDEX push_deliveries_topic ON push_deliveries (user_id, topic) WHERE state = 'pending' AND topic <> '';
CREATE INDEX push_deliveries_finished ON push_deliveries (created_at) WHERE state IN ('sent', 'skipped', 'failed');
