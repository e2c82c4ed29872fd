-- Password resets (RequestPasswordReset, ResetPassword). The emailed token is kept as its SHA-256
-- only, like refresh tokens: reading this table does not let anyone reset a password.
CREATE TABLE password_resets (
    token_hash bytea       PRIMARY KEY CHECK (length(token_hash) = 32),
    user_id    uuid        NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    created_at timestamptz NOT NULL,
    expires_at timestamptz NOT NULL,
    ended_at   timestamptz            -- used, replaced by a newer request, or ended by a password change
);
CREATE INDEX password_resets_open ON password_resets (user_id) WHERE ended_at IS NULL;
CREATE INDEX password_resets_expires_at ON password_resets (expires_at);

-- Requests that send an email, in fixed windows: password resets per email (its SHA-256, whether
-- an account has it or not, so the budget says nothing about accounts) and per client network;
-- verification emails per account.
CREATE TABLE email_request_budget (
    key          text        PRIMARY KEY,  -- "email:<hex sha-256>", "client:<network>", "verify:<user id>"
    window_start timestamptz NOT NULL,
    requests     integer     NOT NULL
);
