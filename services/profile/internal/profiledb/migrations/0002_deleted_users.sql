-- Users whose account was deleted (UserDeleted): their profile is gone and their nickname free.
-- Only the id and when are kept, so that a registration event handled late (redelivered under
-- another event id) cannot create the profile again. See docs/privacy.md.
CREATE TABLE deleted_users (
    user_id    uuid        PRIMARY KEY,
    deleted_at timestamptz NOT NULL
);
