-- A resource's refresh-token policy: `always` (the default, as before), `offline_access`
-- (only when the client asked for it), or `never` (sign in again through SSO). Keep in step
-- with the other folder.
ALTER TABLE resources ADD COLUMN refresh_tokens TEXT NOT NULL DEFAULT 'always';
