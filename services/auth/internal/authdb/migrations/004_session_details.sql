-- What a person needs to recognise their sessions (ListSessions): the client's User-Agent and
-- its approximate network (IPv4 /24, IPv6 /48; never the exact address) at sign-in. Sessions
-- started before this migration have neither.
ALTER TABLE sessions
    ADD COLUMN user_agent     text NOT NULL DEFAULT '',
    ADD COLUMN client_network text NOT NULL DEFAULT '';

-- A user's live sessions, for ListSessions and RevokeOtherSessions (sessions_user_id serves the
-- rest).
CREATE INDEX sessions_user_live ON sessions (user_id, expires_at) WHERE revoked_at IS NULL;
