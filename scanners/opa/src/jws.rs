//! Compact JWS decoding and signature verification for the JWT in `.signatures.json`.
//!
//! Only what OPA bundle signing uses with keys a registry operator can hold: HMAC (`HS*`) and
//! RSA (`RS*`, `PS*`). Decoding never trusts the header's algorithm: the configured key decides
//! the algorithm, and a token whose `alg` differs fails verification.

use std::fmt;

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use hmac::{Hmac, Mac};
use rsa::pkcs1::DecodeRsaPublicKey;
use rsa::pkcs8::DecodePublicKey;
use rsa::signature::Verifier as _;
use rsa::RsaPublicKey;
use serde::Deserialize;
use sha2::{Sha256, Sha384, Sha512};

/// A JWS signing algorithm the scanner can verify.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, serde::Serialize)]
#[allow(clippy::upper_case_acronyms)]
pub enum Algorithm {
    /// HMAC with SHA-256.
    HS256,
    /// HMAC with SHA-384.
    HS384,
    /// HMAC with SHA-512.
    HS512,
    /// RSASSA-PKCS1-v1_5 with SHA-256.
    RS256,
    /// RSASSA-PKCS1-v1_5 with SHA-384.
    RS384,
    /// RSASSA-PKCS1-v1_5 with SHA-512.
    RS512,
    /// RSASSA-PSS with SHA-256.
    PS256,
    /// RSASSA-PSS with SHA-384.
    PS384,
    /// RSASSA-PSS with SHA-512.
    PS512,
}

impl Algorithm {
    /// The name as it appears in a JWS header.
    pub fn as_str(self) -> &'static str {
        match self {
            Algorithm::HS256 => "HS256",
            Algorithm::HS384 => "HS384",
            Algorithm::HS512 => "HS512",
            Algorithm::RS256 => "RS256",
            Algorithm::RS384 => "RS384",
            Algorithm::RS512 => "RS512",
            Algorithm::PS256 => "PS256",
            Algorithm::PS384 => "PS384",
            Algorithm::PS512 => "PS512",
        }
    }

    fn is_hmac(self) -> bool {
        matches!(self, Algorithm::HS256 | Algorithm::HS384 | Algorithm::HS512)
    }
}

impl fmt::Display for Algorithm {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[derive(Clone)]
enum Material {
    Hmac(Vec<u8>),
    Rsa(Box<RsaPublicKey>),
}

/// A parsed verification key.
#[derive(Clone)]
pub struct VerifyingKey {
    algorithm: Algorithm,
    material: Material,
    /// Scope configured with the key.
    pub scope: Option<String>,
}

impl fmt::Debug for VerifyingKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("VerifyingKey")
            .field("algorithm", &self.algorithm)
            .field("material", &"<redacted>")
            .field("scope", &self.scope)
            .finish()
    }
}

impl VerifyingKey {
    /// Parse key material for `algorithm`: the raw secret for HMAC, a PEM public key (SPKI or
    /// PKCS#1) for RSA.
    pub fn parse(algorithm: Algorithm, material: &[u8], scope: Option<String>) -> Result<Self, String> {
        let material = if algorithm.is_hmac() {
            if material.is_empty() {
                return Err("the HMAC secret is empty".into());
            }
            Material::Hmac(material.to_vec())
        } else {
            let pem = std::str::from_utf8(material)
                .map_err(|_| "the RSA key is not UTF-8 PEM text".to_owned())?
                .trim();
            let key = if pem.starts_with("-----BEGIN PUBLIC KEY-----") {
                RsaPublicKey::from_public_key_pem(pem).map_err(|e| format!("bad PUBLIC KEY PEM: {e}"))?
            } else if pem.starts_with("-----BEGIN RSA PUBLIC KEY-----") {
                RsaPublicKey::from_pkcs1_pem(pem).map_err(|e| format!("bad RSA PUBLIC KEY PEM: {e}"))?
            } else {
                return Err("expected a PEM block `PUBLIC KEY` or `RSA PUBLIC KEY`".into());
            };
            Material::Rsa(Box::new(key))
        };
        Ok(VerifyingKey {
            algorithm,
            material,
            scope,
        })
    }
}

/// A decoded (not yet verified) compact JWS.
#[derive(Debug, Clone)]
pub struct Jws {
    /// The protected header.
    pub header: serde_json::Value,
    /// The payload bytes.
    pub payload: Vec<u8>,
    signing_input: String,
    signature: Vec<u8>,
}

/// Why a token could not be decoded or verified.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum JwsError {
    /// Not three dot-separated base64url parts with a JSON header.
    #[error("malformed JWT: {0}")]
    Malformed(String),
    /// The header's `alg` is not the configured key's algorithm.
    #[error("JWT header alg {found:?} does not match the key's algorithm {expected}")]
    AlgorithmMismatch {
        /// The configured algorithm.
        expected: Algorithm,
        /// What the header says.
        found: String,
    },
    /// The signature does not verify.
    #[error("JWT signature does not verify with the configured key")]
    BadSignature,
}

impl Jws {
    /// Split and decode a compact JWS.
    pub fn decode(token: &str) -> Result<Self, JwsError> {
        let token = token.trim();
        let mut parts = token.split('.');
        let (Some(h), Some(p), Some(s), None) = (parts.next(), parts.next(), parts.next(), parts.next()) else {
            return Err(JwsError::Malformed("expected three dot-separated parts".into()));
        };
        let b64 = |what: &str, part: &str| {
            URL_SAFE_NO_PAD
                .decode(part)
                .map_err(|e| JwsError::Malformed(format!("{what} is not base64url: {e}")))
        };
        let header_bytes = b64("header", h)?;
        let header: serde_json::Value = serde_json::from_slice(&header_bytes)
            .map_err(|e| JwsError::Malformed(format!("header is not JSON: {e}")))?;
        if !header.is_object() {
            return Err(JwsError::Malformed("header is not a JSON object".into()));
        }
        Ok(Jws {
            header,
            payload: b64("payload", p)?,
            signing_input: format!("{h}.{p}"),
            signature: b64("signature", s)?,
        })
    }

    /// The header's `alg`.
    pub fn alg(&self) -> Option<&str> {
        self.header.get("alg").and_then(|v| v.as_str())
    }

    /// The header's `kid`.
    pub fn kid(&self) -> Option<&str> {
        self.header
            .get("kid")
            .and_then(|v| v.as_str())
            .filter(|s| !s.is_empty())
    }

    /// Verify the signature with `key`.
    pub fn verify(&self, key: &VerifyingKey) -> Result<(), JwsError> {
        let found = self.alg().unwrap_or("");
        if found != key.algorithm.as_str() {
            return Err(JwsError::AlgorithmMismatch {
                expected: key.algorithm,
                found: found.to_owned(),
            });
        }
        let msg = self.signing_input.as_bytes();
        let sig = &self.signature;
        let ok = match (&key.material, key.algorithm) {
            (Material::Hmac(secret), Algorithm::HS256) => hmac_ok::<Hmac<Sha256>>(secret, msg, sig),
            (Material::Hmac(secret), Algorithm::HS384) => hmac_ok::<Hmac<Sha384>>(secret, msg, sig),
            (Material::Hmac(secret), Algorithm::HS512) => hmac_ok::<Hmac<Sha512>>(secret, msg, sig),
            (Material::Rsa(k), Algorithm::RS256) => pkcs1_ok::<Sha256>(k, msg, sig),
            (Material::Rsa(k), Algorithm::RS384) => pkcs1_ok::<Sha384>(k, msg, sig),
            (Material::Rsa(k), Algorithm::RS512) => pkcs1_ok::<Sha512>(k, msg, sig),
            (Material::Rsa(k), Algorithm::PS256) => pss_ok::<Sha256>(k, msg, sig),
            (Material::Rsa(k), Algorithm::PS384) => pss_ok::<Sha384>(k, msg, sig),
            (Material::Rsa(k), Algorithm::PS512) => pss_ok::<Sha512>(k, msg, sig),
            _ => false,
        };
        if ok {
            Ok(())
        } else {
            Err(JwsError::BadSignature)
        }
    }
}

fn hmac_ok<M: Mac + hmac::digest::KeyInit>(secret: &[u8], msg: &[u8], sig: &[u8]) -> bool {
    let Ok(mut mac) = <M as Mac>::new_from_slice(secret) else {
        return false;
    };
    mac.update(msg);
    mac.verify_slice(sig).is_ok()
}

fn pkcs1_ok<D>(key: &RsaPublicKey, msg: &[u8], sig: &[u8]) -> bool
where
    D: sha2::Digest + rsa::pkcs8::AssociatedOid,
{
    let Ok(sig) = rsa::pkcs1v15::Signature::try_from(sig) else {
        return false;
    };
    rsa::pkcs1v15::VerifyingKey::<D>::new(key.clone())
        .verify(msg, &sig)
        .is_ok()
}

fn pss_ok<D>(key: &RsaPublicKey, msg: &[u8], sig: &[u8]) -> bool
where
    D: sha2::Digest + sha2::digest::FixedOutputReset,
{
    let Ok(sig) = rsa::pss::Signature::try_from(sig) else {
        return false;
    };
    rsa::pss::VerifyingKey::<D>::new(key.clone()).verify(msg, &sig).is_ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hs256_token(secret: &[u8], header: &str, payload: &str) -> String {
        let h = URL_SAFE_NO_PAD.encode(header);
        let p = URL_SAFE_NO_PAD.encode(payload);
        let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(secret).unwrap();
        mac.update(format!("{h}.{p}").as_bytes());
        let s = URL_SAFE_NO_PAD.encode(mac.finalize().into_bytes());
        format!("{h}.{p}.{s}")
    }

    #[test]
    fn hs256_roundtrip_and_tamper() {
        let key = VerifyingKey::parse(Algorithm::HS256, b"secret", None).unwrap();
        let t = hs256_token(b"secret", r#"{"alg":"HS256","kid":"k"}"#, r#"{"files":[]}"#);
        let jws = Jws::decode(&t).unwrap();
        assert_eq!(jws.kid(), Some("k"));
        jws.verify(&key).unwrap();
        let other = VerifyingKey::parse(Algorithm::HS256, b"other", None).unwrap();
        assert_eq!(jws.verify(&other), Err(JwsError::BadSignature));
        let hs512 = VerifyingKey::parse(Algorithm::HS512, b"secret", None).unwrap();
        assert!(matches!(jws.verify(&hs512), Err(JwsError::AlgorithmMismatch { .. })));
    }

    #[test]
    fn none_alg_and_garbage_rejected() {
        let key = VerifyingKey::parse(Algorithm::HS256, b"secret", None).unwrap();
        let h = URL_SAFE_NO_PAD.encode(r#"{"alg":"none"}"#);
        let p = URL_SAFE_NO_PAD.encode("{}");
        let jws = Jws::decode(&format!("{h}.{p}.")).unwrap();
        assert!(matches!(jws.verify(&key), Err(JwsError::AlgorithmMismatch { .. })));
        assert!(matches!(Jws::decode("a.b"), Err(JwsError::Malformed(_))));
        assert!(matches!(Jws::decode("!!.e30.e30"), Err(JwsError::Malformed(_))));
        assert!(VerifyingKey::parse(Algorithm::HS256, b"", None).is_err());
    }
}
