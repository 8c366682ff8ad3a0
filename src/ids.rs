//! Identifiers: `<prefix>_<digits>`, at most 32 characters (Scalekit-compatible).
//! Seeded objects may carry chosen ids with the right prefix.

use crate::crypto;

pub const MAX_ID_LEN: usize = 32;

/// A fresh random id such as `org_483920174659203817`.
pub fn generate(prefix: &str) -> String {
    let mut bytes = [0u8; 8];
    crypto::fill_random(&mut bytes);
    format!(
        "{prefix}_{:018}",
        u64::from_le_bytes(bytes) % 1_000_000_000_000_000_000
    )
}

/// A stable id derived from a natural key, so that re-applying a seed entry without an
/// explicit id updates the same object instead of creating a new one.
pub fn derived(prefix: &str, natural_key: &str) -> String {
    let digest = crypto::sha256(format!("{prefix}\0{natural_key}").as_bytes());
    let mut bytes = [0u8; 8];
    bytes.copy_from_slice(&digest[..8]);
    format!(
        "{prefix}_{:018}",
        u64::from_le_bytes(bytes) % 1_000_000_000_000_000_000
    )
}

/// Checks a chosen id: the right prefix, then `_`, then letters, digits, `_` or `-`.
pub fn validate(prefix: &str, id: &str) -> Result<(), String> {
    let Some(rest) = id.strip_prefix(prefix).and_then(|r| r.strip_prefix('_')) else {
        return Err(format!("must start with `{prefix}_`"));
    };
    if id.len() > MAX_ID_LEN {
        return Err(format!("must be at most {MAX_ID_LEN} characters"));
    }
    if rest.is_empty()
        || !rest
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
    {
        return Err("may contain only letters, digits, `_` and `-` after the prefix".into());
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_ids_have_prefix_and_digits() {
        let id = generate("usrcnst");
        assert!(id.starts_with("usrcnst_"));
        assert!(id.len() <= MAX_ID_LEN);
        assert!(id["usrcnst_".len()..].chars().all(|c| c.is_ascii_digit()));
        assert_ne!(generate("org"), generate("org"));
    }

    #[test]
    fn derived_ids_are_stable() {
        assert_eq!(derived("org", "Acme"), derived("org", "Acme"));
        assert_ne!(derived("org", "Acme"), derived("org", "Acme2"));
        assert!(validate("org", &derived("org", "x")).is_ok());
    }

    #[test]
    fn validation_checks_prefix_and_charset() {
        assert!(validate("org", "org_acme").is_ok());
        assert!(validate("org", "res_acme").is_err());
        assert!(validate("org", "org_").is_err());
        assert!(validate("org", "org_a b").is_err());
        assert!(validate("org", "orgx_1").is_err());
        assert!(validate("org", &format!("org_{}", "1".repeat(40))).is_err());
    }
}
