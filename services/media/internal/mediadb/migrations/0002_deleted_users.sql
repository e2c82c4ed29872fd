-- Owners whose account was deleted (UserDeleted). Their files are marked deleted at once and the
-- janitor removes their bytes (upload, file, thumbnails) and rows like any deleted file's. Only
-- the id and when are kept, so that an upload started with an access token from before the
-- deletion is refused. See docs/privacy.md.
CREATE TABLE deleted_users (
    user_id    uuid        PRIMARY KEY,
    deleted_at timestamptz NOT NULL
);
