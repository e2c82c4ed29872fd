-- Friend requests already answered (FriendAccepted or FriendDeclined seen). FriendRequestSent is
-- keyed by the recipient while the answers are keyed by the pair, so an answer may be handled
-- before its request: FriendRequestSent looks here and raises nothing for a resolved request.
-- Rows are deleted after the same retention as read notifications.
CREATE TABLE resolved_friend_requests (
    request_id  uuid        PRIMARY KEY,
    resolved_at timestamptz NOT NULL
);
CREATE INDEX resolved_friend_requests_resolved_at ON resolved_friend_requests (resolved_at);
