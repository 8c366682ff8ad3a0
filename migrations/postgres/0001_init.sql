-- portcullis schema (PostgreSQL). Keep in step with migrations/sqlite/0001_init.sql:
-- TEXT ids, BIGINT unix seconds, 0/1 integers for booleans, JSON as TEXT.

CREATE TABLE organizations (
    id           TEXT PRIMARY KEY,
    display_name TEXT NOT NULL,
    external_id  TEXT UNIQUE,
    created_at   BIGINT NOT NULL,
    updated_at   BIGINT NOT NULL
);

CREATE TABLE organization_domains (
    domain          TEXT PRIMARY KEY,
    organization_id TEXT NOT NULL REFERENCES organizations(id) ON DELETE CASCADE
);

CREATE TABLE connections (
    id              TEXT PRIMARY KEY,
    organization_id TEXT NOT NULL REFERENCES organizations(id) ON DELETE CASCADE,
    kind            TEXT NOT NULL,
    enabled         BIGINT NOT NULL,
    settings        TEXT NOT NULL,
    created_at      BIGINT NOT NULL,
    updated_at      BIGINT NOT NULL
);

CREATE TABLE resources (
    id                           TEXT PRIMARY KEY,
    name                         TEXT NOT NULL,
    server_url                   TEXT NOT NULL UNIQUE,
    access_token_ttl             BIGINT NOT NULL,
    refresh_token_ttl            BIGINT NOT NULL,
    dynamic_client_registration  BIGINT NOT NULL,
    client_id_metadata_documents BIGINT NOT NULL,
    cimd_allowlist               TEXT NOT NULL,
    scopes                       TEXT NOT NULL,
    created_at                   BIGINT NOT NULL,
    updated_at                   BIGINT NOT NULL
);

CREATE TABLE rules (
    id              TEXT PRIMARY KEY,
    resource_id     TEXT NOT NULL REFERENCES resources(id) ON DELETE CASCADE,
    organization_id TEXT REFERENCES organizations(id) ON DELETE CASCADE,
    conditions      TEXT NOT NULL,
    grants          TEXT NOT NULL,
    effect          TEXT NOT NULL,
    position        BIGINT NOT NULL,
    created_at      BIGINT NOT NULL,
    updated_at      BIGINT NOT NULL
);

CREATE TABLE clients (
    id                         TEXT PRIMARY KEY,
    name                       TEXT NOT NULL,
    kind                       TEXT NOT NULL,
    secret_hash                TEXT,
    secret_expires_at          BIGINT NOT NULL,
    token_endpoint_auth_method TEXT NOT NULL,
    redirect_uris              TEXT NOT NULL,
    grant_types                TEXT NOT NULL,
    resources                  TEXT NOT NULL,
    bound_resource_id          TEXT REFERENCES resources(id) ON DELETE CASCADE,
    scopes                     TEXT NOT NULL,
    introspection              BIGINT NOT NULL,
    application_type           TEXT NOT NULL,
    metadata                   TEXT NOT NULL,
    created_at                 BIGINT NOT NULL,
    updated_at                 BIGINT NOT NULL
);

CREATE TABLE signing_keys (
    id          TEXT PRIMARY KEY,
    alg         TEXT NOT NULL,
    public_jwk  TEXT NOT NULL,
    private_key TEXT NOT NULL,
    created_at  BIGINT NOT NULL,
    activate_at BIGINT NOT NULL,
    -- insertion order: breaks ties between keys activated in the same second
    seq         BIGINT NOT NULL
);

CREATE TABLE audit_events (
    id              TEXT PRIMARY KEY,
    at              BIGINT NOT NULL,
    kind            TEXT NOT NULL,
    client_id       TEXT,
    user_id         TEXT,
    organization_id TEXT,
    resource_id     TEXT,
    detail          TEXT NOT NULL
);
CREATE INDEX audit_events_at ON audit_events (at);

CREATE TABLE admins (
    username      TEXT PRIMARY KEY,
    password_hash TEXT NOT NULL,
    created_at    BIGINT NOT NULL,
    updated_at    BIGINT NOT NULL
);
