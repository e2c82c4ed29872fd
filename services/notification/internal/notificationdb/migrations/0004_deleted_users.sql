-- Users whose account was deleted (UserDeleted): everything the service held about them is gone.
-- Only the id and when are kept, so that events about them handled late (a ProfileUpdated, a
-- MessageSent or a FriendRequestSent still in flight on another topic) store nothing again. See
-- docs/privacy.md.
CREATE TABLE deleted_users (
    user_id    uuid        PRIMARY KEY,
    deleted_at timestamptz NOT NULL
);
