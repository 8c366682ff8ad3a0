-- Enterprise-managed authorization (ID-JAG, Cross-App Access): whether a resource accepts
-- identity assertion grants at all (off by default). The IdPs trusted for them are
-- connection settings (`xaa_issuer`, `xaa_jwks_uri`), and a client's keys for
-- `private_key_jwt` are client settings (`jwks`, `jwks_uri`). Keep in step with the other
-- folder.
ALTER TABLE resources ADD COLUMN xaa_enabled INTEGER NOT NULL DEFAULT 0;
