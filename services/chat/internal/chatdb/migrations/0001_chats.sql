-- One-to-one chats, their messages and read cursors.

-- A chat per pair of users who are or have been friends. chat_id is derived from the pair
-- (chat.ChatID, a version 5 UUID), and the pair is unique too, so whichever path creates a chat
-- first (the FriendAccepted event or the first SendMessage to a friend) the pair has one chat.
--
-- The send path updates last_seq and last_activity_at on every message. Neither is indexed and
-- the table leaves room on each page (fillfactor), so that update is HOT: no index is touched
-- and the old row version is pruned from the page. ListChats therefore does not walk an index
-- in activity order; it reads the caller's chats through chat_members and sorts them, which is
-- cheap for the few hundred chats (one per friend) a person has.
CREATE TABLE chats (
    chat_id          uuid        PRIMARY KEY,
    user_lo          uuid        NOT NULL,
    user_hi          uuid        NOT NULL,
    -- True while the two are friends; kept by FriendAccepted / FriendRemoved. The source of truth
    -- for sending once the chat exists.
    can_send         boolean     NOT NULL,
    -- The highest seq handed out; the next message gets last_seq + 1 under this row's lock, so
    -- seqs are gap-free and strictly increasing however many senders race.
    last_seq         bigint      NOT NULL DEFAULT 0 CHECK (last_seq >= 0),
    created_at       timestamptz NOT NULL DEFAULT now(),
    last_activity_at timestamptz NOT NULL DEFAULT now(),
    CHECK (user_lo < user_hi),
    UNIQUE (user_lo, user_hi)
) WITH (fillfactor = 70);

-- Who takes part in which chat, with each participant's read cursor. Two rows per chat, written
-- with it. Lives apart from chats so that reading (MarkRead) never waits on senders' row lock.
CREATE TABLE chat_members (
    user_id  uuid   NOT NULL,
    chat_id  uuid   NOT NULL REFERENCES chats,
    peer_id  uuid   NOT NULL,
    -- Every message with seq <= read_seq is read by user_id. Only ever moves forward.
    read_seq bigint NOT NULL DEFAULT 0 CHECK (read_seq >= 0),
    PRIMARY KEY (user_id, chat_id)
);

CREATE TABLE messages (
    chat_id        uuid        NOT NULL REFERENCES chats,
    seq            bigint      NOT NULL CHECK (seq > 0),
    message_id     uuid        NOT NULL UNIQUE,
    sender_id      uuid        NOT NULL,
    client_msg_id  uuid        NOT NULL,
    -- Empty for a tombstone, and possibly for a message that has only attachments.
    text           text        NOT NULL CHECK (char_length(text) <= 4000),
    -- Media file ids, in the order given; emptied on deletion.
    attachment_ids uuid[]      NOT NULL DEFAULT '{}' CHECK (cardinality(attachment_ids) <= 10),
    sent_at        timestamptz NOT NULL,
    edited_at      timestamptz,
    deleted_at     timestamptz,
    PRIMARY KEY (chat_id, seq),
    -- SendMessage's idempotency key; kept by tombstones, so a retry after a deletion still finds
    -- the message it stored.
    UNIQUE (chat_id, sender_id, client_msg_id)
);

-- The chat service's copy of public profile fields, from ProfileUpdated, for ListChats' peers.
CREATE TABLE peer_profiles (
    user_id        uuid        PRIMARY KEY,
    nickname       text        NOT NULL,
    avatar_file_id text        NOT NULL DEFAULT '',
    -- ProfileUpdated.version of the row; an older event never overwrites a newer one.
    version        bigint      NOT NULL,
    updated_at     timestamptz NOT NULL DEFAULT now()
);
