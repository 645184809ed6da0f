//! Public keys read from PEM, and signature verification over a payload's exact bytes, as cosign
//! signs it: ECDSA P-256 (ASN.1 DER signature over SHA-256), Ed25519 (over the raw payload) and
//! RSA (PKCS#1 v1.5 with SHA-256, else PSS with SHA-256).

use p256::pkcs8::der::{pem, Decode};
use p256::pkcs8::spki::{ObjectIdentifier, SubjectPublicKeyInfoRef};
use rsa::pkcs1::DecodeRsaPublicKey;
use rsa::pkcs8::DecodePublicKey;
use rsa::traits::PublicKeyParts;
use rsa::RsaPublicKey;
use sha2::Sha256;

/// id-ecPublicKey (RFC 5480).
const OID_EC: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.10045.2.1");
/// secp256r1 / prime256v1.
const OID_P256: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.10045.3.1.7");
/// id-Ed25519 (RFC 8410).
const OID_ED25519: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.3.101.112");
/// rsaEncryption (RFC 8017).
const OID_RSA: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.113549.1.1.1");

/// A parsed public key.
#[derive(Debug, Clone)]
pub enum PublicKey {
    /// ECDSA over NIST P-256.
    EcdsaP256(p256::ecdsa::VerifyingKey),
    /// Ed25519.
    Ed25519(ed25519_dalek::VerifyingKey),
    /// RSA.
    Rsa(RsaPublicKey),
}

impl PublicKey {
    /// Parse a PEM public key: `PUBLIC KEY` (SubjectPublicKeyInfo) for all three algorithms, or
    /// `RSA PUBLIC KEY` (PKCS#1). The error says what the file holds instead.
    pub fn from_pem(text: &[u8]) -> Result<Self, String> {
        let (label, der) = pem::decode_vec(text).map_err(|e| format!("not a PEM document ({e})"))?;
        match label {
            "RSA PUBLIC KEY" => RsaPublicKey::from_pkcs1_der(&der)
                .map(PublicKey::Rsa)
                .map_err(|e| format!("bad PKCS#1 RSA public key: {e}")),
            "PUBLIC KEY" => Self::from_spki_der(&der),
            "PRIVATE KEY"
            | "EC PRIVATE KEY"
            | "RSA PRIVATE KEY"
            | "ENCRYPTED PRIVATE KEY"
            | "ENCRYPTED SIGSTORE PRIVATE KEY"
            | "ENCRYPTED COSIGN PRIVATE KEY" => Err(format!(
                "holds a private key ({label}); configure the public key (cosign.pub) instead"
            )),
            other => Err(format!(
                "PEM label {other:?} is not a public key (expected PUBLIC KEY or RSA PUBLIC KEY)"
            )),
        }
    }

    fn from_spki_der(der: &[u8]) -> Result<Self, String> {
        let spki = SubjectPublicKeyInfoRef::from_der(der).map_err(|e| format!("bad SubjectPublicKeyInfo: {e}"))?;
        let oid = spki.algorithm.oid;
        if oid == OID_EC {
            let curve = spki.algorithm.parameters_oid().ok();
            if curve != Some(OID_P256) {
                let curve = curve.map_or_else(|| "none".to_owned(), |c| c.to_string());
                return Err(format!(
                    "ECDSA key on curve {curve}; only P-256 ({OID_P256}) is supported"
                ));
            }
            p256::ecdsa::VerifyingKey::from_public_key_der(der)
                .map(PublicKey::EcdsaP256)
                .map_err(|e| format!("bad ECDSA P-256 public key: {e}"))
        } else if oid == OID_ED25519 {
            ed25519_dalek::VerifyingKey::try_from(spki)
                .map(PublicKey::Ed25519)
                .map_err(|e| format!("bad Ed25519 public key: {e}"))
        } else if oid == OID_RSA {
            RsaPublicKey::from_public_key_der(der)
                .map(PublicKey::Rsa)
                .map_err(|e| format!("bad RSA public key: {e}"))
        } else {
            Err(format!(
                "public key algorithm {oid} is not supported (expected ECDSA P-256, Ed25519 or RSA)"
            ))
        }
    }

    /// The algorithm, for messages.
    pub fn algorithm(&self) -> &'static str {
        match self {
            PublicKey::EcdsaP256(_) => "ECDSA P-256",
            PublicKey::Ed25519(_) => "Ed25519",
            PublicKey::Rsa(_) => "RSA",
        }
    }

    /// Whether `signature` is this key's signature over exactly `payload`.
    pub fn verifies(&self, payload: &[u8], signature: &[u8]) -> bool {
        use p256::ecdsa::signature::Verifier as _;
        match self {
            PublicKey::EcdsaP256(key) => {
                // cosign writes ASN.1 DER; accept the fixed 64-byte form too.
                let sig = p256::ecdsa::Signature::from_der(signature)
                    .or_else(|_| p256::ecdsa::Signature::from_slice(signature));
                sig.is_ok_and(|sig| key.verify(payload, &sig).is_ok())
            }
            PublicKey::Ed25519(key) => ed25519_dalek::Signature::from_slice(signature)
                .is_ok_and(|sig| key.verify_strict(payload, &sig).is_ok()),
            PublicKey::Rsa(key) => {
                let Ok(sig) = rsa::pkcs1v15::Signature::try_from(signature) else {
                    return false;
                };
                let pkcs1 = rsa::pkcs1v15::VerifyingKey::<Sha256>::new(key.clone());
                if pkcs1.verify(payload, &sig).is_ok() {
                    return true;
                }
                let Ok(sig) = rsa::pss::Signature::try_from(signature) else {
                    return false;
                };
                // Salt as long as the hash (sigstore's default), or as long as possible (Go's
                // PSSSaltLengthAuto when signing).
                let em_len = (key.n().bits() - 1).div_ceil(8);
                let max_salt = em_len.saturating_sub(32 + 2);
                [32, max_salt].into_iter().any(|salt| {
                    rsa::pss::VerifyingKey::<Sha256>::new_with_salt_len(key.clone(), salt)
                        .verify(payload, &sig)
                        .is_ok()
                })
            }
        }
    }
}
