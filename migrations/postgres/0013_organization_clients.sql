-- Organization M2M clients (`m2morg_…`): a client that belongs to an organization, with its
-- settings (description, audience, custom claims, token expiry) as JSON, and several live
-- secrets at a time (`sec_…`, only hashes kept) so one can be rotated without downtime.
-- Keep in step with the other folder.
ALTER TABLE clients ADD COLUMN organization_id TEXT REFERENCES organizations(id) ON DELETE CASCADE;
ALTER TABLE clients ADD COLUMN settings TEXT NOT NULL DEFAULT '{}';
CREATE INDEX clients_organization ON clients (organization_id);

CREATE TABLE client_secrets (
    id            TEXT PRIMARY KEY,
    client_id     TEXT NOT NULL REFERENCES clients(id) ON DELETE CASCADE,
    secret_hash   TEXT NOT NULL,
    secret_suffix TEXT NOT NULL,
    created_at    BIGINT NOT NULL
);
CREATE INDEX client_secrets_client ON client_secrets (client_id);
