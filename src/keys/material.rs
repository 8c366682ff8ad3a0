//! Key material: generation, the public JWK, and signers from sealed private keys.

use josekit::jwk::Jwk;
use josekit::jwk::KeyPair;
use josekit::jws::{ES256, EdDSA, JwsSigner, JwsVerifier, RS256};

use super::KeyError;
use crate::config::SigningAlg;

/// A fresh key pair: the private key as PKCS#8 DER and the public JWK (JSON text) with
/// `kid`, `alg` and `use`.
pub fn generate(alg: SigningAlg, kid: &str) -> Result<(Vec<u8>, String), KeyError> {
    let pair: Box<dyn KeyPair> = match alg {
        SigningAlg::Rs256 => Box::new(RS256.generate_key_pair(2048)?),
        SigningAlg::Es256 => Box::new(ES256.generate_key_pair()?),
        SigningAlg::EdDsa => {
            Box::new(EdDSA.generate_key_pair(josekit::jwk::alg::ed::EdCurve::Ed25519)?)
        }
    };
    let mut jwk = pair.to_jwk_public_key();
    jwk.set_key_id(kid);
    jwk.set_algorithm(alg.as_str());
    jwk.set_key_use("sig");
    Ok((pair.to_der_private_key(), jwk.to_string()))
}

pub fn signer(alg: &str, der: &[u8]) -> Result<Box<dyn JwsSigner>, KeyError> {
    Ok(match SigningAlg::parse(alg) {
        Some(SigningAlg::Rs256) => Box::new(RS256.signer_from_der(der)?),
        Some(SigningAlg::Es256) => Box::new(ES256.signer_from_der(der)?),
        Some(SigningAlg::EdDsa) => Box::new(EdDSA.signer_from_der(der)?),
        None => return Err(KeyError::Corrupt(format!("unknown key algorithm `{alg}`"))),
    })
}

pub fn verifier(alg: &str, public_jwk: &str) -> Result<Box<dyn JwsVerifier>, KeyError> {
    let jwk = Jwk::from_bytes(public_jwk.as_bytes())?;
    Ok(match SigningAlg::parse(alg) {
        Some(SigningAlg::Rs256) => Box::new(RS256.verifier_from_jwk(&jwk)?),
        Some(SigningAlg::Es256) => Box::new(ES256.verifier_from_jwk(&jwk)?),
        Some(SigningAlg::EdDsa) => Box::new(EdDSA.verifier_from_jwk(&jwk)?),
        None => return Err(KeyError::Corrupt(format!("unknown key algorithm `{alg}`"))),
    })
}
