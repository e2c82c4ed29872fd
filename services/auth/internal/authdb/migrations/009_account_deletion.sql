-- Deleted accounts (DeleteAccount). Deleting an account deletes its users row, and with it
-- (ON DELETE CASCADE) its credentials, identities, sessions, refresh tokens and pending links;
-- what remains is this tombstone: the id and when, nothing that identifies the person. It keeps
-- the id from ever naming an account again (the trigger below), and tells a request carrying
-- the id of a deleted account apart from one carrying an id that never existed.
CREATE TABLE deleted_users (
    id         uuid        PRIMARY KEY,
    deleted_at timestamptz NOT NULL
);

CREATE FUNCTION refuse_deleted_user_id() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF EXISTS (SELECT 1 FROM deleted_users WHERE id = NEW.id) THEN
        RAISE EXCEPTION 'user id % belongs to a deleted account', NEW.id USING ERRCODE = 'unique_violation',
            CONSTRAINT = 'users_id_deleted';
    END IF;
    RETURN NEW;
END $$;

CREATE TRIGGER users_id_not_deleted BEFORE INSERT ON users
    FOR EACH ROW EXECUTE FUNCTION refuse_deleted_user_id();
