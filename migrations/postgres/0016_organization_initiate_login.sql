-- Scalekit's IdP-initiated login: the application URL an organization's IdP-initiated
-- logins go to (`idp_initiated_login=<JWT>`) when the connection names none. Keep in step
-- with the other folder.
ALTER TABLE organizations ADD COLUMN initiate_login_uri TEXT;
