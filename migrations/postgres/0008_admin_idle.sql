-- Admin sessions end after a time without use (login::ADMIN_IDLE_TIMEOUT) as well as at
-- their absolute expiry: the last time a session was used. Keep in step with the other folder.

ALTER TABLE admin_sessions ADD COLUMN last_seen_at BIGINT;
UPDATE admin_sessions SET last_seen_at = created_at;
