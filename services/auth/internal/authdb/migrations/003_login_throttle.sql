-- Login throttling (see auth.ThrottlePolicy). Kept in Postgres, the service's one store: it
-- survives restarts, is shared by every replica, and throttling never fails open because another
-- system is down. Accounts are keyed by the SHA-256 of the normalised email, registered or not.

-- One row per account × client (an IPv4 address or an IPv6 /64).
CREATE TABLE login_throttle (
    account         bytea       NOT NULL CHECK (length(account) = 32),
    client          text        NOT NULL,
    failures        integer     NOT NULL DEFAULT 0,   -- in a row, since the last success
    last_failure_at timestamptz,
    blocked_until   timestamptz,                      -- no attempt before this
    last_success_at timestamptz,                      -- the client is familiar for a while after
    PRIMARY KEY (account, client)
);

-- Failures of an account across all clients in its current window.
CREATE TABLE login_throttle_accounts (
    account      bytea       PRIMARY KEY CHECK (length(account) = 32),
    failures     integer     NOT NULL DEFAULT 0,
    window_start timestamptz                           -- NULL: no failure in a live window
);
CREATE INDEX login_throttle_accounts_window_start ON login_throttle_accounts (window_start);
