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

-- Nicknames are unique ignoring case. The "C" collation compares bytes whatever the database's
-- default collation, so ordering and comparisons are the same on every server. Also search's
-- exact tier. Queries must say lower(nickname) COLLATE "C" for the planner to use it.
CREATE UNIQUE INDEX profiles_nickname_lower_key ON profiles ((lower(nickname) COLLATE "C"));

-- Search's prefix tier, ranked shortest nickname first: one short index range scan per length
-- (a prefix match's trigram similarity to the query falls as the nickname grows, and this order
-- costs the same however many nicknames share the prefix).
CREATE INDEX profiles_nickname_length_idx ON profiles (char_length(nickname), (lower(nickname) COLLATE "C"), user_id);

-- Search's fuzzy tier: trigram similarity (the % operator) over the lower-cased nickname.
CREATE INDEX profiles_nickname_trgm_idx ON profiles USING gin (lower(nickname) gin_trgm_ops);
