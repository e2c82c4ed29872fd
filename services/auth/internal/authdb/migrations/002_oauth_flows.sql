-- OAuth authorization-code flows between BeginOAuth and CompleteOAuth. A row is taken (deleted)
-- by the CompleteOAuth that presents its state, so every state works once; rows live minutes.
CREATE TABLE oauth_flows (
    state_hash    bytea       PRIMARY KEY CHECK (length(state_hash) = 32),  -- SHA-256 of the state
    provider      text        NOT NULL,
    redirect_uri  text        NOT NULL,
    code_verifier text        NOT NULL,   -- PKCE (RFC 7636)
    nonce         text        NOT NULL,   -- must come back in the ID token
    created_at    timestamptz NOT NULL,
    expires_at    timestamptz NOT NULL
);
CREATE INDEX oauth_flows_expires_at ON oauth_flows (expires_at);
