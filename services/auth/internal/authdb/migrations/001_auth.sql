-- Accounts. The email is stored normalised (trimmed, lower-cased) and is unique; accounts created
-- through an OAuth provider that gave no email have none.
CREATE TABLE users (
    id         uuid        PRIMARY KEY,
    email      text        UNIQUE,
    created_at timestamptz NOT NULL
);

-- Password credentials: argon2id PHC strings (the parameters travel with each hash).
CREATE TABLE password_credentials (
    user_id    uuid        PRIMARY KEY REFERENCES users (id) ON DELETE CASCADE,
    hash       text        NOT NULL,
    updated_at timestamptz NOT NULL
);

-- Links to accounts at external identity providers ("sign in with…").
CREATE TABLE oauth_identities (
    provider   text        NOT NULL,
    subject    text        NOT NULL,
    user_id    uuid        NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    email      text        NOT NULL DEFAULT '',
    created_at timestamptz NOT NULL,
    PRIMARY KEY (provider, subject)
);
CREATE INDEX oauth_identities_user_id ON oauth_identities (user_id);

-- Sessions: one per sign-in, i.e. one refresh-token family. The access token's "sid" claim is the
-- session id. Revoking the session ends every refresh token of the family.
CREATE TABLE sessions (
    id            uuid        PRIMARY KEY,
    user_id       uuid        NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    method        text        NOT NULL,              -- "password", "oauth:<provider>"
    created_at    timestamptz NOT NULL,
    refreshed_at  timestamptz,                       -- last rotation
    expires_at    timestamptz NOT NULL,              -- expiry of the newest refresh token
    revoked_at    timestamptz,
    revoke_reason text,                              -- "logout", "refresh_token_reuse"
    CHECK ((revoked_at IS NULL) = (revoke_reason IS NULL))
);
CREATE INDEX sessions_user_id ON sessions (user_id);
CREATE INDEX sessions_expires_at ON sessions (expires_at);

-- Refresh tokens, by SHA-256 hash only. A token is current until used; a used token is kept until
-- it expires so that presenting it again is recognised as reuse and revokes the session.
CREATE TABLE refresh_tokens (
    token_hash bytea       PRIMARY KEY CHECK (length(token_hash) = 32),
    session_id uuid        NOT NULL REFERENCES sessions (id) ON DELETE CASCADE,
    created_at timestamptz NOT NULL,
    expires_at timestamptz NOT NULL,
    used_at    timestamptz
);
CREATE INDEX refresh_tokens_session_id ON refresh_tokens (session_id);
