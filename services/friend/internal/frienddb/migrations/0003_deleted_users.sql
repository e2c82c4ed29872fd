-- Users whose account was deleted (UserDeleted): their friendships, requests and blocks are gone
-- and so is their users row. Only the id and when are kept, so that events about them handled
-- late (a ProfileUpdated still in flight on another topic) and calls made with an access token
-- issued before the deletion do not bring a row back. See docs/privacy.md.
CREATE TABLE deleted_users (
    user_id    uuid        PRIMARY KEY,
    deleted_at timestamptz NOT NULL
);
