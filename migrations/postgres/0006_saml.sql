-- SAML assertion IDs already accepted, per connection, kept until the assertion could no
-- longer be valid: a replayed response is refused, on every replica.
CREATE TABLE saml_assertions (
    connection_id TEXT NOT NULL,
    assertion_id TEXT NOT NULL,
    expires_at BIGINT NOT NULL,
    PRIMARY KEY (connection_id, assertion_id)
);
CREATE INDEX saml_assertions_expires ON saml_assertions (expires_at);
