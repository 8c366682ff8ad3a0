-- A SAML address now counts as verified only in one of its organization's domains
-- (federation::is_email_verified). Users who signed in over SAML before are unverified until
-- their next sign-in sets it again. Keep in step with the other folder.

UPDATE users SET email_verified = 0
WHERE connection_id IN (SELECT id FROM connections WHERE kind = 'saml');
