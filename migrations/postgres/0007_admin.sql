-- Admin pages and API: admin browser sessions (only a hash of the cookie's token), failed
-- admin logins (the rate limit, per account and per address), rule names, and the user a
-- refresh family belongs to (revoking all of a user's tokens). Keep in step with the other folder.

CREATE TABLE admin_sessions (
    id         TEXT PRIMARY KEY,
    token_hash TEXT NOT NULL UNIQUE,
    username   TEXT NOT NULL REFERENCES admins(username) ON DELETE CASCADE,
    created_at BIGINT NOT NULL,
    expires_at BIGINT NOT NULL,
    ended_at   BIGINT
);

CREATE TABLE admin_login_failures (
    key TEXT NOT NULL,
    at  BIGINT NOT NULL
);
CREATE INDEX admin_login_failures_key ON admin_login_failures (key, at);

ALTER TABLE rules ADD COLUMN name TEXT NOT NULL DEFAULT '';

ALTER TABLE refresh_tokens ADD COLUMN user_id TEXT;
-- Families issued before this migration: their user from the stored grant.
UPDATE refresh_tokens SET user_id = (grant_json::json ->> 'user_id') WHERE user_id IS NULL;
CREATE INDEX refresh_tokens_user ON refresh_tokens (user_id);
CREATE INDEX refresh_tokens_client ON refresh_tokens (client_id);

-- "Revoke its tokens" for a client: its access tokens issued at or before this time are
-- refused by the admin API and by introspection (refresh tokens are revoked row by row).
CREATE TABLE client_token_cutoffs (
    client_id  TEXT PRIMARY KEY,
    not_before BIGINT NOT NULL
);
