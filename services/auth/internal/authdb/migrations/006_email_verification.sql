-- Email verification (VerifyEmail, ResendVerificationEmail). An account's email is verified once
-- its owner used an emailed link, or when an identity provider vouched for it at sign-up (accounts
-- created through OAuth only ever get an email the provider verified).
-- Accounts from before verification existed count as verified: they have been getting Parley's
-- emails at that address all along (the notification service holds it), and asking every existing
-- person to confirm would change nothing but their inbox.
ALTER TABLE users ADD COLUMN email_verified_at timestamptz;
UPDATE users SET email_verified_at = created_at WHERE email IS NOT NULL;

-- Verification links, by the token's SHA-256 only. A link is for the address it was sent to: it
-- stops working when the account's email changes.
CREATE TABLE email_verifications (
    token_hash bytea       PRIMARY KEY CHECK (length(token_hash) = 32),
    user_id    uuid        NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    email      text        NOT NULL,
    created_at timestamptz NOT NULL,
    expires_at timestamptz NOT NULL,
    ended_at   timestamptz            -- used, or replaced by a newer email
);
CREATE INDEX email_verifications_open ON email_verifications (user_id) WHERE ended_at IS NULL;
CREATE INDEX email_verifications_expires_at ON email_verifications (expires_at);
