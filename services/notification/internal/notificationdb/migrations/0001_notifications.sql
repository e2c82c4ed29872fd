-- What the service knows about each person, and the row every transaction that changes a
-- person's notifications locks first (so unread counts are exact and their NotificationSent events
-- follow commit order). email comes from UserRegistered; nickname from ProfileUpdated (newest
-- profile_version wins) or, until the profile is seen, from UserRegistered. email_enabled and
-- prefs_updated_at are the email master switch and when preferences last changed (NULL: defaults).
CREATE TABLE recipients (
    user_id          uuid        PRIMARY KEY,
    email            text        NOT NULL DEFAULT '',
    nickname         text        NOT NULL DEFAULT '',
    profile_version  bigint      NOT NULL DEFAULT 0,
    email_enabled    boolean     NOT NULL DEFAULT true,
    prefs_updated_at timestamptz,
    created_at       timestamptz NOT NULL DEFAULT now()
);

-- Per-kind preferences a user changed; a kind without a row has its default.
CREATE TABLE kind_preferences (
    user_id uuid     NOT NULL REFERENCES recipients ON DELETE CASCADE,
    kind    smallint NOT NULL CHECK (kind > 0),
    in_app  boolean  NOT NULL,
    email   boolean  NOT NULL,
    PRIMARY KEY (user_id, kind)
);

-- Muted chats; until NULL mutes until unmuted. Expired rows are ignored, then cleaned up.
CREATE TABLE muted_chats (
    user_id uuid        NOT NULL,
    chat_id uuid        NOT NULL,
    until   timestamptz,
    PRIMARY KEY (user_id, chat_id)
);
CREATE INDEX muted_chats_until ON muted_chats (until) WHERE until IS NOT NULL;

-- The in-app list. collapse_key ("chat:<id>") lets a new message notification replace the unread
-- one of its chat; last_seq is the newest message such a notification stands for.
CREATE TABLE notifications (
    notification_id uuid        PRIMARY KEY,
    user_id         uuid        NOT NULL,
    kind            smallint    NOT NULL CHECK (kind > 0),
    title           text        NOT NULL,
    body            text        NOT NULL DEFAULT '',
    subject_id      text        NOT NULL DEFAULT '',
    actor_user_id   text        NOT NULL DEFAULT '',
    count           integer     NOT NULL DEFAULT 1 CHECK (count >= 1),
    collapse_key    text,
    last_seq        bigint      NOT NULL DEFAULT 0,
    created_at      timestamptz NOT NULL,
    read_at         timestamptz
);
-- Listing, newest first (all, and unread only), and the unread count.
CREATE INDEX notifications_list ON notifications (user_id, created_at DESC, notification_id DESC);
CREATE INDEX notifications_unread ON notifications (user_id, created_at DESC, notification_id DESC) WHERE read_at IS NULL;
-- At most one unread notification per collapse key.
CREATE UNIQUE INDEX notifications_collapse ON notifications (user_id, collapse_key)
    WHERE read_at IS NULL AND collapse_key IS NOT NULL;
-- Marking a friend request's notification read when it is accepted or declined.
CREATE INDEX notifications_subject ON notifications (user_id, kind, subject_id) WHERE read_at IS NULL;
-- Retention of read notifications.
CREATE INDEX notifications_read_at ON notifications (read_at) WHERE read_at IS NOT NULL;

-- Notify's idempotency keys and the result each first call had (kept at least 30 days).
CREATE TABLE notify_requests (
    user_id         uuid        NOT NULL,
    idempotency_key text        NOT NULL,
    notification_id uuid,
    email_queued    boolean     NOT NULL,
    created_at      timestamptz NOT NULL,
    PRIMARY KEY (user_id, idempotency_key)
);
CREATE INDEX notify_requests_created_at ON notify_requests (created_at);

-- Pending message digests: one per (recipient, chat) while messages wait for an email. The
-- dispatcher takes a digest once due_at has passed (first_message_at + DIGEST_DELAY, or later
-- when the recipient was around) and turns it into an email, or drops it.
CREATE TABLE digests (
    digest_id        uuid        PRIMARY KEY,
    user_id          uuid        NOT NULL,
    chat_id          uuid        NOT NULL,
    first_message_at timestamptz NOT NULL,
    due_at           timestamptz NOT NULL,
    UNIQUE (user_id, chat_id)
);
CREATE INDEX digests_due_at ON digests (due_at);

CREATE TABLE digest_messages (
    digest_id   uuid        NOT NULL REFERENCES digests ON DELETE CASCADE,
    seq         bigint      NOT NULL,
    message_id  uuid        NOT NULL,
    sender_id   uuid        NOT NULL,
    text        text        NOT NULL,
    attachments text[]      NOT NULL DEFAULT '{}',
    sent_at     timestamptz NOT NULL,
    PRIMARY KEY (digest_id, seq)
);

-- The delivery outbox of the email channel. A row is written (state pending) in the transaction
-- that decides to email; the dispatcher claims it (state sending, attempts + 1, next_attempt_at =
-- the end of its lease) and commits before talking SMTP, then marks it sent, or pending again with
-- next_attempt_at = the retry time, or failed. A row left sending past its lease was interrupted
-- mid-send and is claimed again. dedup_key names the cause ("friend_request:<id>",
-- "digest:<id>", …) so the same cause never queues two emails. The message is stored rendered, so
-- every attempt sends the same bytes with the same Message-ID.
CREATE TABLE email_deliveries (
    delivery_id     uuid        PRIMARY KEY,
    dedup_key       text        NOT NULL UNIQUE,
    user_id         uuid        NOT NULL,
    kind            smallint    NOT NULL,
    to_address      text        NOT NULL,
    to_name         text        NOT NULL DEFAULT '',
    message_id      text        NOT NULL,
    subject         text        NOT NULL,
    text_body       text        NOT NULL,
    html_body       text        NOT NULL,
    state           text        NOT NULL DEFAULT 'pending' CHECK (state IN ('pending', 'sending', 'sent', 'failed')),
    attempts        integer     NOT NULL DEFAULT 0,
    next_attempt_at timestamptz NOT NULL,
    last_error      text        NOT NULL DEFAULT '',
    created_at      timestamptz NOT NULL,
    sent_at         timestamptz
);
-- The dispatcher's queue: only unfinished rows.
CREATE INDEX email_deliveries_due ON email_deliveries (next_attempt_at) WHERE state IN ('pending', 'sending');
-- Retention of finished rows.
CREATE INDEX email_deliveries_finished ON email_deliveries (created_at) WHERE state IN ('sent', 'failed');
