-- Passkeys (WebAuthn credentials): a way to sign in without a password. The user handle the
-- authenticator keeps is the user id's 16 bytes, so it needs no column.
CREATE TABLE passkeys (
    id                 uuid        PRIMARY KEY,
    user_id            uuid        NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    credential_id      bytea       NOT NULL UNIQUE CHECK (length(credential_id) BETWEEN 1 AND 1023),
    public_key         bytea       NOT NULL,  -- COSE_Key
    attestation_type   text        NOT NULL,
    attestation_format text        NOT NULL,
    transports         text[]      NOT NULL,
    aaguid             bytea       NOT NULL CHECK (length(aaguid) = 16),
    sign_count         bigint      NOT NULL CHECK (sign_count BETWEEN 0 AND 4294967295),
    flags              smallint    NOT NULL,  -- authenticator data flags of the last ceremony
    name               text        NOT NULL,
    created_at         timestamptz NOT NULL,
    last_used_at       timestamptz
);
CREATE INDEX passkeys_user ON passkeys (user_id, created_at DESC);

-- Started registrations and sign-ins, by the SHA-256 of the ceremony id handed to the client;
-- taken (deleted) by the Finish call, so a challenge is answered at most once.
CREATE TABLE passkey_ceremonies (
    id_hash    bytea       PRIMARY KEY CHECK (length(id_hash) = 32),
    kind       text        NOT NULL CHECK (kind IN ('registration', 'login')),
    user_id    uuid        REFERENCES users (id) ON DELETE CASCADE,  -- the registering user
    session    jsonb       NOT NULL,
    created_at timestamptz NOT NULL,
    expires_at timestamptz NOT NULL
);
CREATE INDEX passkey_ceremonies_expires_at ON passkey_ceremonies (expires_at);
