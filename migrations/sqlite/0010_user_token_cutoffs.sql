-- A user's access tokens issued at or before `not_before` are refused by introspection,
-- userinfo and the admin API: set when an admin revokes the user's tokens, disables or
-- deletes the user (no foreign key: a deleted user's cut-off outlives the row). Keep in step
-- with the other folder.
CREATE TABLE user_token_cutoffs (
    user_id    TEXT PRIMARY KEY,
    not_before BIGINT NOT NULL
);
