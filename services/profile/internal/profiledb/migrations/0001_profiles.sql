-- Profiles: one row per user, created from the UserRegistered event.
CREATE EXTENSION IF NOT EXISTS pg_trgm;

CREATE TABLE profiles (
    user_id             uuid        PRIMARY KEY,
    nickname            text        NOT NULL CHECK (char_length(nickname) BETWEEN 3 AND 32),
    -- 1 = chosen, 2 = the nickname asked for at registration was taken (see requested_nickname).
    nickname_status     smallint    NOT NULL CHECK (nickname_status IN (1, 2)),
    requested_nickname  text        NOT NULL DEFAULT '',
    about               text        NOT NULL DEFAULT '' CHECK (char_length(about) <= 500),
    avatar_file_id      uuid,
    avatar_url          text        NOT NULL DEFAULT '',
    avatar_thumb64_url  text        NOT NULL DEFAULT '',
    avatar_thumb256_url text        NOT NULL DEFAULT '',
    -- Bumped by every change; ProfileUpdated carries it and the cache is fenced by it.
    version             bigint      NOT NULL DEFAULT 1,
    created_at          timestamptz NOT NULL DEFAULT now(),
    updated_at          timestamptz NOT NULL DEFAULT now()
);

-- Nicknames are unique ignoring case. text_pattern_ops compares bytes whatever the database's
-- collation, so the same index also serves search's exact tier (=) and prefix tier (~>=~ / ~<~
-- range scan).
CREATE UNIQUE INDEX profiles_nickname_lower_key ON profiles (lower(nickname) text_pattern_ops);

-- Search's fuzzy tier: trigram similarity (the % operator) over the lower-cased nickname.
CREATE INDEX profiles_nickname_trgm_idx ON profiles USING gin (lower(nickname) gin_trgm_ops);
