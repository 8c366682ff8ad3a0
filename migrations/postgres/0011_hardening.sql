-- A token family is everything one authorization code issued: the access tokens and the
-- chain of rotated refresh tokens. It is created with the code, before any token, so a
-- revocation (code replay, refresh-token reuse, an admin revoking the user or the client)
-- marks the family and the mark is checked whenever one of its tokens is used or shown:
-- no race between rotation and revocation can leave a live token behind. No foreign keys:
-- the mark outlives deleted users and clients. Keep in step with the other folder.
CREATE TABLE token_families (
    id         TEXT PRIMARY KEY,
    client_id  TEXT NOT NULL,
    user_id    TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    expires_at BIGINT NOT NULL,
    revoked_at BIGINT
);
CREATE INDEX token_families_user ON token_families (user_id);
CREATE INDEX token_families_client ON token_families (client_id);

-- The family of each access token issued for a user grant (jti = the token's jti).
CREATE TABLE family_access_tokens (
    jti        TEXT PRIMARY KEY,
    family_id  TEXT NOT NULL,
    expires_at BIGINT NOT NULL
);
CREATE INDEX family_access_tokens_family ON family_access_tokens (family_id);

-- Every dynamic registration, kept when the client is deleted (RFC 7592) or reaped: the
-- per-address rate limit counts registrations, not live rows.
CREATE TABLE client_registrations (
    registered_from TEXT NOT NULL,
    at              BIGINT NOT NULL
);
CREATE INDEX client_registrations_from ON client_registrations (registered_from, at);

-- One row that registrations (and first sightings of metadata-document clients) update
-- first, so the rate limit and the cap on clients are checked and the client inserted as
-- one step, with any number of concurrent requests and replicas.
CREATE TABLE registration_lock (
    id BIGINT PRIMARY KEY,
    n  BIGINT NOT NULL
);
INSERT INTO registration_lock (id, n) VALUES (1, 0);

-- The address that opened a pending authorization: one address may hold only so many
-- unfinished ones (each stores its request until it expires).
ALTER TABLE pending_authorizations ADD COLUMN from_address TEXT;
CREATE INDEX pending_authorizations_from ON pending_authorizations (from_address, created_at);
