-- Upstream (OIDC) logins in flight: the state sent to the IdP, kept server-side, bound to
-- the browser by a cookie, single use, 10 minutes. Keep in step with sqlite/.

CREATE TABLE upstream_logins (
    state_hash    TEXT PRIMARY KEY,
    connection_id TEXT NOT NULL,
    pending_id    TEXT NOT NULL,
    browser_hash  TEXT NOT NULL,
    secrets       TEXT NOT NULL,
    created_at    BIGINT NOT NULL,
    expires_at    BIGINT NOT NULL,
    used_at       BIGINT
);
