//! Planning an admin account (`[[admins]]`, the bootstrap admin, `portcullis admin
//! create`): a username of 1 to 64 characters and exactly one of a password (at least 8
//! characters, hashed with argon2id later, off the async threads) or an argon2id PHC hash.

use super::PendingAdmin;
use crate::seed::SeedError;
use crate::seed::file::AdminEntry;

/// The admin an entry describes, its password still to hash, or the first rule it breaks.
pub fn plan_admin(entry: &str, a: AdminEntry) -> Result<PendingAdmin, SeedError> {
    if a.username.trim().is_empty() || a.username.len() > 64 {
        return Err(SeedError::new(
            entry,
            "username",
            "must be 1 to 64 characters",
        ));
    }
    match (&a.password, &a.password_hash) {
        (Some(p), None) if p.len() < 8 => {
            return Err(SeedError::new(
                entry,
                "password",
                "must be at least 8 characters",
            ));
        }
        (Some(_), None) => {}
        (None, Some(h)) if crate::password::is_argon2id_hash(h) => {}
        (None, Some(_)) => {
            return Err(SeedError::new(
                entry,
                "password_hash",
                "must be an $argon2id$ PHC string",
            ));
        }
        _ => {
            return Err(SeedError::new(
                entry,
                "password",
                "set exactly one of password, password_hash",
            ));
        }
    }
    Ok(PendingAdmin {
        username: a.username,
        password: a.password,
        password_hash: a.password_hash,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn admin(username: &str, password: Option<&str>, hash: Option<&str>) -> AdminEntry {
        AdminEntry {
            username: username.into(),
            password: password.map(str::to_string),
            password_hash: hash.map(str::to_string),
        }
    }

    fn key(a: AdminEntry) -> String {
        match plan_admin("a", a) {
            Err(SeedError::Invalid { key, .. }) => key,
            Err(e) => panic!("unexpected error {e}"),
            Ok(_) => panic!("accepted"),
        }
    }

    #[test]
    fn a_password_or_an_argon2id_hash() {
        assert!(plan_admin("a", admin("root", Some("long enough"), None)).is_ok());
        let hash = "$argon2id$v=19$m=19456,t=2,p=1$c2FsdHNhbHQ$aGFzaGhhc2hoYXNoaGFzaA";
        assert!(plan_admin("a", admin("root", None, Some(hash))).is_ok());
    }

    #[test]
    fn bad_fields_are_named() {
        assert_eq!(key(admin(" ", Some("long enough"), None)), "username");
        assert_eq!(
            key(admin(&"x".repeat(65), Some("long enough"), None)),
            "username"
        );
        assert_eq!(key(admin("root", Some("short"), None)), "password");
        assert_eq!(
            key(admin("root", None, Some("$2b$10$xyz"))),
            "password_hash"
        );
        assert_eq!(key(admin("root", None, None)), "password");
        assert_eq!(
            key(admin("root", Some("long enough"), Some("h"))),
            "password"
        );
    }
}
