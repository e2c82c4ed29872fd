-- Two-factor authentication with an authenticator app (TOTP, RFC 6238). The shared secret must be
-- readable to check codes, so it cannot be hashed: it is stored encrypted with AES-256-GCM under a
-- key the service holds outside the database (AUTH_TOTP_KEY_FILE), bound to the user id (the
-- GCM additional data), so a copied row does not decrypt for another account.
CREATE TABLE totp_credentials (
    user_id        uuid        PRIMARY KEY REFERENCES users (id) ON DELETE CASCADE,
    secret_sealed  bytea       NOT NULL,  -- nonce || AES-256-GCM ciphertext of the base32 secret
    key_id         text        NOT NULL,  -- which AUTH_TOTP_KEY_FILE key sealed it
    created_at     timestamptz NOT NULL,
    confirmed_at   timestamptz,           -- NULL: enrolment started, not yet confirmed (not in force)
    last_used_step bigint      NOT NULL DEFAULT 0  -- the last accepted code's time step (unix / 30): no replay
);

-- Recovery codes: ten per activation, each usable once, by a keyed hash only (HMAC-SHA-256 of the
-- user id and the code under a key derived from AUTH_TOTP_KEY_FILE's): a database dump alone
-- cannot be searched for them.
CREATE TABLE totp_recovery_codes (
    user_id   uuid        NOT NULL REFERENCES totp_credentials (user_id) ON DELETE CASCADE,
    code_hash bytea       NOT NULL CHECK (length(code_hash) = 32),
    used_at   timestamptz,
    PRIMARY KEY (user_id, code_hash)
);

-- The first step of a two-step sign-in: the password (or the identity provider) was right and the
-- account has TOTP active. By the challenge token's SHA-256 only; single-use, minutes long.
CREATE TABLE login_challenges (
    challenge_hash bytea       PRIMARY KEY CHECK (length(challenge_hash) = 32),
    user_id        uuid        NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    method         text        NOT NULL,  -- the first factor, the session's method: "password", "oauth:<provider>"
    created_at     timestamptz NOT NULL,
    expires_at     timestamptz NOT NULL
);
CREATE INDEX login_challenges_user_id ON login_challenges (user_id);
CREATE INDEX login_challenges_expires_at ON login_challenges (expires_at);
