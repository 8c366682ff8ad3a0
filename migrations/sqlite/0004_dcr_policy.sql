-- Dynamic registration policy: where a registration came from (rate limit), when a client
-- was last used (reaping idle clients), and the RFC 7592 registration access token (hash).
ALTER TABLE clients ADD COLUMN registered_from TEXT;
ALTER TABLE clients ADD COLUMN last_used_at INTEGER;
ALTER TABLE clients ADD COLUMN registration_token_hash TEXT;
CREATE INDEX clients_registered_from ON clients (registered_from, created_at);
