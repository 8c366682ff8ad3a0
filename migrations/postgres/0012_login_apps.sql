-- Login apps and Scalekit's token shapes: a client's PKCE setting (`required`, or
-- `optional` for a confidential login app) and a resource's access-token issuer
-- (`resource`, or `environment`). Keep in step with the other folder.
ALTER TABLE clients ADD COLUMN pkce TEXT NOT NULL DEFAULT 'required';
ALTER TABLE resources ADD COLUMN token_issuer TEXT NOT NULL DEFAULT 'resource';
