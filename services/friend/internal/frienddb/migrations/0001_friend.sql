-- The friend service's own copy of the people it shows: created from UserRegistered, refreshed
-- from ProfileUpdated (the highest profile version wins), and created empty for a signed-in caller
-- the events have not introduced yet, so every id below has a row to join.
CREATE TABLE users (
    user_id         uuid        PRIMARY KEY,
    nickname        text        NOT NULL DEFAULT '',
    avatar_file_id  uuid,
    -- The version of the last ProfileUpdated applied; 0 = none yet (the nickname, if any, is the
    -- one asked for at registration).
    profile_version bigint      NOT NULL DEFAULT 0,
    updated_at      timestamptz NOT NULL DEFAULT now()
);

-- One row per pair of people who ever had anything to do with each other, ids in canonical order
-- (user_lo < user_hi). Every change to a pair's relationship first locks this row, so concurrent
-- requests, accepts and blocks of the same two people take turns; the primary key makes two
-- friendships of one pair impossible. friends_since is set while they are friends.
CREATE TABLE pairs (
    user_lo           uuid        NOT NULL,
    user_hi           uuid        NOT NULL,
    friends_since     timestamptz,
    -- The request whose acceptance made the current friendship.
    friend_request_id uuid,
    PRIMARY KEY (user_lo, user_hi),
    CHECK (user_lo < user_hi),
    CHECK ((friends_since IS NULL) = (friend_request_id IS NULL))
);
-- Listing one person's friends: they appear on either side of the pair.
CREATE INDEX pairs_friends_lo ON pairs (user_lo) WHERE friends_since IS NOT NULL;
CREATE INDEX pairs_friends_hi ON pairs (user_hi) WHERE friends_since IS NOT NULL;

-- Friend requests, kept after they are resolved so that accepting, declining or cancelling again
-- can answer as the API promises, and so that recent requests can be counted for the rate limit.
CREATE TABLE friend_requests (
    request_id   uuid        PRIMARY KEY,
    from_user_id uuid        NOT NULL REFERENCES users,
    to_user_id   uuid        NOT NULL REFERENCES users,
    -- dropped: ended by a block or an unblock, not by either person's answer.
    status       text        NOT NULL CHECK (status IN ('pending', 'accepted', 'declined', 'cancelled', 'dropped')),
    -- A request from someone the recipient has blocked: its sender sees it pending, the recipient
    -- never sees it, and no event is published for it.
    hidden       boolean     NOT NULL DEFAULT false,
    created_at   timestamptz NOT NULL,
    resolved_at  timestamptz,
    CHECK (from_user_id <> to_user_id),
    CHECK ((status = 'pending') = (resolved_at IS NULL))
);
-- At most one pending request per pair, in either direction: the backstop under the pair lock.
CREATE UNIQUE INDEX friend_requests_one_pending_per_pair ON friend_requests
    (least(from_user_id, to_user_id), greatest(from_user_id, to_user_id)) WHERE status = 'pending';
-- Incoming and outgoing lists, newest first.
CREATE INDEX friend_requests_incoming ON friend_requests (to_user_id, created_at DESC, request_id DESC)
    WHERE status = 'pending' AND NOT hidden;
CREATE INDEX friend_requests_outgoing ON friend_requests (from_user_id, created_at DESC, request_id DESC)
    WHERE status = 'pending';
-- The rate limit counts a sender's requests of the last window, whatever became of them.
CREATE INDEX friend_requests_sent ON friend_requests (from_user_id, created_at);

-- Blocks: blocker_id has blocked blocked_id. Either of two people may block the other.
CREATE TABLE blocks (
    blocker_id uuid        NOT NULL REFERENCES users,
    blocked_id uuid        NOT NULL REFERENCES users,
    created_at timestamptz NOT NULL,
    PRIMARY KEY (blocker_id, blocked_id),
    CHECK (blocker_id <> blocked_id)
);
-- ListBlockedUsers, most recent first.
CREATE INDEX blocks_by_blocker ON blocks (blocker_id, created_at DESC, blocked_id DESC);
