//! Small cryptographic helpers over OpenSSL: randomness, SHA-256, constant-time
//! comparison, and the AEAD (AES-256-GCM) that protects private keys and upstream
//! secrets at rest under `PORTCULLIS_SECRET_KEY`.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use openssl::symm::{Cipher, decrypt_aead, encrypt_aead};

pub fn fill_random(buf: &mut [u8]) {
    // OpenSSL's CSPRNG only fails when the OS has no entropy source at all.
    openssl::rand::rand_bytes(buf).expect("OpenSSL random generator failed");
}

/// 256 bits of randomness, base64url without padding: client secrets, codes, tokens.
pub fn random_token() -> String {
    let mut bytes = [0u8; 32];
    fill_random(&mut bytes);
    URL_SAFE_NO_PAD.encode(bytes)
}

pub fn sha256(data: &[u8]) -> [u8; 32] {
    openssl::sha::sha256(data)
}

/// The stored form of a high-entropy secret: hex SHA-256.
pub fn hash_secret(secret: &str) -> String {
    hex(&sha256(secret.as_bytes()))
}

/// Checks a presented secret against its stored hash in constant time.
pub fn verify_secret(presented: &str, stored_hash: &str) -> bool {
    let computed = hash_secret(presented);
    computed.len() == stored_hash.len()
        && openssl::memcmp::eq(computed.as_bytes(), stored_hash.as_bytes())
}

pub fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

pub fn b64url(bytes: &[u8]) -> String {
    URL_SAFE_NO_PAD.encode(bytes)
}

#[derive(Debug, thiserror::Error)]
pub enum SealError {
    #[error("sealed value is malformed")]
    Malformed,
    #[error("sealed value does not open with this secret key (wrong PORTCULLIS_SECRET_KEY?)")]
    WrongKey,
}

/// AES-256-GCM under the server's secret key. The associated data (a row id) binds a
/// ciphertext to its row, so a sealed value copied to another row does not open.
#[derive(Clone)]
pub struct SecretBox {
    key: [u8; 32],
}

impl std::fmt::Debug for SecretBox {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SecretBox(..)")
    }
}

const SEAL_VERSION: &str = "v1";

impl SecretBox {
    pub fn new(key: [u8; 32]) -> Self {
        Self { key }
    }

    /// Parses the configured key: base64url (or standard base64) of exactly 32 bytes.
    pub fn from_base64(text: &str) -> Result<Self, String> {
        let text = text.trim();
        let bytes = URL_SAFE_NO_PAD
            .decode(text.trim_end_matches('='))
            .or_else(|_| base64::engine::general_purpose::STANDARD.decode(text))
            .map_err(|_| "must be base64url".to_string())?;
        let key: [u8; 32] = bytes
            .try_into()
            .map_err(|b: Vec<u8>| format!("must decode to 32 bytes, not {}", b.len()))?;
        Ok(Self::new(key))
    }

    /// HMAC-SHA256 of `message` under a key derived for `purpose`, base64url: CSRF tokens
    /// and other values the server must recognise as its own.
    pub fn mac(&self, purpose: &str, message: &str) -> String {
        let derived = sha256(&[&self.key[..], purpose.as_bytes()].concat());
        let tag = openssl::pkey::PKey::hmac(&derived)
            .and_then(|key| {
                let mut signer =
                    openssl::sign::Signer::new(openssl::hash::MessageDigest::sha256(), &key)?;
                signer.update(message.as_bytes())?;
                signer.sign_to_vec()
            })
            .expect("HMAC-SHA256 with a 32-byte key cannot fail");
        b64url(&tag)
    }

    /// Checks a MAC made by [`SecretBox::mac`] in constant time.
    pub fn verify_mac(&self, purpose: &str, message: &str, presented: &str) -> bool {
        let expected = self.mac(purpose, message);
        expected.len() == presented.len()
            && openssl::memcmp::eq(expected.as_bytes(), presented.as_bytes())
    }

    /// `v1.<nonce>.<ciphertext+tag>`, base64url parts.
    pub fn seal(&self, plaintext: &[u8], aad: &str) -> String {
        let mut nonce = [0u8; 12];
        fill_random(&mut nonce);
        let mut tag = [0u8; 16];
        let mut ct = encrypt_aead(
            Cipher::aes_256_gcm(),
            &self.key,
            Some(&nonce),
            aad.as_bytes(),
            plaintext,
            &mut tag,
        )
        .expect("AES-256-GCM encryption with a 32-byte key cannot fail");
        ct.extend_from_slice(&tag);
        format!("{SEAL_VERSION}.{}.{}", b64url(&nonce), b64url(&ct))
    }

    pub fn open(&self, sealed: &str, aad: &str) -> Result<Vec<u8>, SealError> {
        let mut parts = sealed.split('.');
        let (Some(SEAL_VERSION), Some(nonce), Some(ct), None) =
            (parts.next(), parts.next(), parts.next(), parts.next())
        else {
            return Err(SealError::Malformed);
        };
        let nonce = URL_SAFE_NO_PAD
            .decode(nonce)
            .map_err(|_| SealError::Malformed)?;
        let ct = URL_SAFE_NO_PAD
            .decode(ct)
            .map_err(|_| SealError::Malformed)?;
        if nonce.len() != 12 || ct.len() < 16 {
            return Err(SealError::Malformed);
        }
        let (body, tag) = ct.split_at(ct.len() - 16);
        decrypt_aead(
            Cipher::aes_256_gcm(),
            &self.key,
            Some(&nonce),
            aad.as_bytes(),
            body,
            tag,
        )
        .map_err(|_| SealError::WrongKey)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seal_round_trips_and_binds_aad() {
        let sb = SecretBox::new([7; 32]);
        let sealed = sb.seal(b"private key", "snk_1");
        assert!(!sealed.contains("private"));
        assert_eq!(sb.open(&sealed, "snk_1").unwrap(), b"private key");
        assert!(matches!(
            sb.open(&sealed, "snk_2"),
            Err(SealError::WrongKey)
        ));
        let other = SecretBox::new([8; 32]);
        assert!(matches!(
            other.open(&sealed, "snk_1"),
            Err(SealError::WrongKey)
        ));
        assert!(matches!(
            sb.open("garbage", "snk_1"),
            Err(SealError::Malformed)
        ));
    }

    #[test]
    fn macs_are_bound_to_purpose_message_and_key() {
        let sb = SecretBox::new([7; 32]);
        let m = sb.mac("csrf", "ses_1|req_1");
        assert!(sb.verify_mac("csrf", "ses_1|req_1", &m));
        assert!(!sb.verify_mac("csrf", "ses_1|req_2", &m));
        assert!(!sb.verify_mac("other", "ses_1|req_1", &m));
        assert!(!SecretBox::new([8; 32]).verify_mac("csrf", "ses_1|req_1", &m));
        assert!(!sb.verify_mac("csrf", "ses_1|req_1", ""));
    }

    #[test]
    fn secret_key_must_be_32_bytes() {
        assert!(SecretBox::from_base64(&b64url(&[1; 32])).is_ok());
        assert!(SecretBox::from_base64(&b64url(&[1; 31])).is_err());
        assert!(SecretBox::from_base64("not base64!!").is_err());
    }

    #[test]
    fn secrets_verify_in_constant_time_against_hash() {
        let h = hash_secret("s3cret");
        assert!(verify_secret("s3cret", &h));
        assert!(!verify_secret("s3cret2", &h));
        assert!(!verify_secret("", &h));
    }
}
