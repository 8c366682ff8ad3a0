-- The authorization code flow: users, browser sessions, pending authorizations, codes,
-- refresh tokens, consents and revoked access tokens. Keep in step with sqlite/.

ALTER TABLE organizations ADD COLUMN enabled BIGINT NOT NULL DEFAULT 1;

CREATE TABLE users (
    id              TEXT PRIMARY KEY,
    connection_id   TEXT NOT NULL REFERENCES connections(id) ON DELETE CASCADE,
    organization_id TEXT NOT NULL REFERENCES organizations(id) ON DELETE CASCADE,
    subject         TEXT NOT NULL,
    email           TEXT,
    email_verified  BIGINT NOT NULL,
    name            TEXT,
    groups_json     TEXT NOT NULL,
    attributes      TEXT NOT NULL,
    enabled         BIGINT NOT NULL,
    created_at      BIGINT NOT NULL,
    last_login_at   BIGINT NOT NULL,
    UNIQUE (connection_id, subject)
);

CREATE TABLE sessions (
    id              TEXT PRIMARY KEY,
    token_hash      TEXT NOT NULL UNIQUE,
    user_id         TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    connection_id   TEXT NOT NULL,
    organization_id TEXT NOT NULL,
    auth_time       BIGINT NOT NULL,
    expires_at      BIGINT NOT NULL,
    ended_at        BIGINT
);

CREATE TABLE pending_authorizations (
    id          TEXT PRIMARY KEY,
    client_id   TEXT NOT NULL,
    request     TEXT NOT NULL,
    session_id  TEXT,
    created_at  BIGINT NOT NULL,
    expires_at  BIGINT NOT NULL,
    finished_at BIGINT
);

CREATE TABLE authorization_codes (
    code_hash   TEXT PRIMARY KEY,
    client_id   TEXT NOT NULL,
    grant_json  TEXT NOT NULL,
    created_at  BIGINT NOT NULL,
    expires_at  BIGINT NOT NULL,
    used_at     BIGINT,
    access_jti  TEXT,
    family_id   TEXT
);

CREATE TABLE refresh_tokens (
    token_hash        TEXT PRIMARY KEY,
    family_id         TEXT NOT NULL,
    client_id         TEXT NOT NULL,
    grant_json        TEXT NOT NULL,
    created_at        BIGINT NOT NULL,
    expires_at        BIGINT NOT NULL,
    family_expires_at BIGINT NOT NULL,
    used_at           BIGINT,
    revoked_at        BIGINT
);
CREATE INDEX refresh_tokens_family ON refresh_tokens (family_id);

CREATE TABLE consents (
    id           TEXT PRIMARY KEY,
    user_id      TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    client_id    TEXT NOT NULL,
    redirect_uri TEXT NOT NULL,
    resource_id  TEXT NOT NULL,
    scopes       TEXT NOT NULL,
    created_at   BIGINT NOT NULL,
    revoked_at   BIGINT,
    UNIQUE (user_id, client_id, redirect_uri, resource_id)
);

CREATE TABLE revoked_tokens (
    jti        TEXT PRIMARY KEY,
    expires_at BIGINT NOT NULL
);
