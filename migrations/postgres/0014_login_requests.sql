-- Bring-your-own-auth (connections of kind `custom`): the login request an application
-- answers by posting the signed-in user (`POST /api/v1/connections/{conn}/auth-requests/
-- {login_request_id}/user`), before it sends the browser to the partner callback. Only
-- the hash of the login request id is kept; the identity is sealed. It goes with its
-- upstream login. Keep in step with the other folder.
CREATE TABLE login_requests (
    login_request_hash TEXT PRIMARY KEY,
    state_hash         TEXT NOT NULL REFERENCES upstream_logins(state_hash) ON DELETE CASCADE,
    connection_id      TEXT NOT NULL,
    identity           TEXT,
    expires_at         BIGINT NOT NULL
);
CREATE INDEX login_requests_state ON login_requests (state_hash);
