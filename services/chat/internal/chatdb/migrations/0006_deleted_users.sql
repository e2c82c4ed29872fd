-- Users whose account was deleted (UserDeleted). Their messages stay in their peers' histories as
-- tombstones (no text, no attachments; seq, sender and times kept so each history stays
-- gap-free), their chats can no longer be sent to, and their peer_profiles row is gone. This row
-- (the id and when) marks them as a deleted account in their peers' chats and keeps late events
-- (a ProfileUpdated or FriendAccepted still in flight) from bringing anything back. See
-- docs/privacy.md.
CREATE TABLE deleted_users (
    user_id    uuid        PRIMARY KEY,
    deleted_at timestamptz NOT NULL
);
