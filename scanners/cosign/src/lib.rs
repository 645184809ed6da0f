//! regscan's scanner for cosign signatures.
//!
//! A cosign signature is an image-shaped manifest (pushed under the tag `sha256-<hex>.sig`) whose
//! layers are simple-signing payloads (`application/vnd.dev.cosign.simplesigning.v1+json`), each
//! carrying its base64 signature in the layer annotation `dev.cosignproject.cosign/signature`.
//! [`CosignScanner`] reads every payload (bounded by [`CosignConfig::max_payload_bytes`]), parses
//! it, and verifies the signature over the payload's exact bytes with every configured public key
//! (ECDSA P-256, Ed25519, RSA).
//!
//! The report's `details.signatures` lists one object per layer:
//! `{"layer", "payload_digest", "identity", "key", "signature_valid", "reason"}`. Whether the
//! signed digest (`payload_digest`) is the subject's is decided by whoever knows the subject;
//! this scanner only says whether a configured key signed the payload. Keyless signatures (a
//! Fulcio certificate and a Rekor entry instead of a key) cannot be verified offline; they are
//! reported with `details.keyless: true` and a reason saying so.
//!
//! Modules: [`config`] (keys and limits), `keys` (PEM parsing and verification), `payload` (the
//! simple-signing document).
#![forbid(unsafe_code)]

pub mod config;
mod keys;
mod payload;

use std::path::Path;
use std::sync::Arc;

use async_trait::async_trait;
use base64::Engine as _;
use regscan_scanner_api::media;
use regscan_scanner_api::{Descriptor, Finding, ScanContext, ScanError, ScanOutput, Scanner, Severity, TypeEntry};
use serde::Serialize;
use serde_json::json;

pub use config::{ConfigError, CosignConfig, KeyConfig, DEFAULT_MAX_PAYLOAD_BYTES};
pub use keys::PublicKey;
pub use payload::SIGNATURE_TYPE;

/// The scanner name.
pub const COSIGN_SCANNER_NAME: &str = "cosign";

/// Version of the analysis; bumped whenever verification changes, so stored results are redone.
pub const COSIGN_SCANNER_VERSION: &str = "1.0.0";

/// Layer annotation holding the base64 signature.
pub const ANNOTATION_SIGNATURE: &str = "dev.cosignproject.cosign/signature";

/// Layer annotation holding a Fulcio certificate (keyless signing).
pub const ANNOTATION_CERTIFICATE: &str = "dev.sigstore.cosign/certificate";

/// Finding id for a signature no configured key verifies.
pub const SIG_INVALID: &str = "SIG-INVALID";

/// Verifies cosign simple-signing signatures against configured public keys.
#[derive(Debug, Clone)]
pub struct CosignScanner {
    keys: Arc<Vec<(String, PublicKey)>>,
    max_payload_bytes: u64,
}

impl CosignScanner {
    /// Build the scanner: read and parse every key file (once, here). Errors name the key and
    /// its file.
    pub fn new(config: CosignConfig) -> Result<Self, ConfigError> {
        if config.max_payload_bytes == 0 {
            return Err(ConfigError::ZeroLimit);
        }
        let mut keys: Vec<(String, PublicKey)> = Vec::with_capacity(config.keys.len());
        for k in &config.keys {
            let problem = if k.name.trim().is_empty() {
                Some("empty")
            } else if keys.iter().any(|(n, _)| n == &k.name) {
                Some("used twice")
            } else {
                None
            };
            if let Some(problem) = problem {
                return Err(ConfigError::BadName {
                    name: k.name.clone(),
                    path: k.path.clone(),
                    problem,
                });
            }
            keys.push((k.name.clone(), load_key(&k.name, &k.path)?));
        }
        Ok(CosignScanner {
            keys: Arc::new(keys),
            max_payload_bytes: config.max_payload_bytes,
        })
    }

    /// The configured keys' names and algorithms, in order.
    pub fn keys(&self) -> impl Iterator<Item = (&str, &'static str)> {
        self.keys.iter().map(|(n, k)| (n.as_str(), k.algorithm()))
    }
}

fn load_key(name: &str, path: &Path) -> Result<PublicKey, ConfigError> {
    let text = std::fs::read(path).map_err(|source| ConfigError::KeyFile {
        name: name.to_owned(),
        path: path.to_owned(),
        source,
    })?;
    PublicKey::from_pem(&text).map_err(|message| ConfigError::BadKey {
        name: name.to_owned(),
        path: path.to_owned(),
        message,
    })
}

/// One entry of `details.signatures`, in the shape the subject's report is built from.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SignatureResult {
    /// Digest of the payload layer.
    pub layer: String,
    /// The digest the payload says was signed (`critical.image.docker-manifest-digest`).
    pub payload_digest: Option<String>,
    /// `critical.identity.docker-reference`.
    pub identity: Option<String>,
    /// Name of the configured key that verified the signature.
    pub key: Option<String>,
    /// Whether a configured key verifies the signature over a well-formed payload.
    pub signature_valid: bool,
    /// Why not, in words a person can act on.
    pub reason: Option<String>,
}

impl CosignScanner {
    /// Verify one payload layer.
    async fn check_layer(&self, ctx: &ScanContext<'_>, layer: &Descriptor) -> Result<SignatureResult, ScanError> {
        let payload = ctx
            .read_blob(layer, self.max_payload_bytes, "simple-signing payload")
            .await?;
        let keyless = layer.annotations.contains_key(ANNOTATION_CERTIFICATE);
        Ok(self.verify(
            &layer.digest,
            &payload,
            layer.annotations.get(ANNOTATION_SIGNATURE),
            keyless,
        ))
    }

    /// Verify `payload` against the base64 `signature` (the annotation's value) with every key.
    fn verify(&self, layer: &str, payload: &[u8], signature: Option<&String>, keyless: bool) -> SignatureResult {
        let parsed = payload::parse(payload);
        let (payload_digest, identity) = match &parsed {
            Ok(p) => (Some(p.manifest_digest.clone()), p.identity.clone()),
            Err(_) => (None, None),
        };
        let mut result = SignatureResult {
            layer: layer.to_owned(),
            payload_digest,
            identity,
            key: None,
            signature_valid: false,
            reason: None,
        };
        let keyless_note = if keyless {
            "; it is a keyless signature (Fulcio certificate), which cannot be verified offline: configure the signer's public key in [[signatures.keys]] instead"
        } else {
            ""
        };
        let signature = match signature.map(|s| s.trim()) {
            None | Some("") => {
                result.reason = Some(format!(
                    "no signature annotation ({ANNOTATION_SIGNATURE}) on the payload layer"
                ));
                return result;
            }
            Some(s) => s,
        };
        let Ok(signature) = base64::engine::general_purpose::STANDARD.decode(signature) else {
            result.reason = Some(format!("signature is not base64 (annotation {ANNOTATION_SIGNATURE})"));
            return result;
        };
        if self.keys.is_empty() {
            result.reason = Some(format!(
                "no keys configured: add the signer's public key to [[signatures.keys]]{keyless_note}"
            ));
            return result;
        }
        let verified_by = self
            .keys
            .iter()
            .find(|(_, k)| k.verifies(payload, &signature))
            .map(|(name, _)| name.clone());
        match (verified_by, parsed) {
            (Some(name), Ok(_)) => {
                result.key = Some(name);
                result.signature_valid = true;
            }
            (Some(name), Err(e)) => {
                result.reason = Some(format!(
                    "payload is not a cosign simple-signing document: {e} (key {name} signed these bytes, but they do not name a signed image)"
                ));
            }
            (None, Err(e)) => {
                result.reason = Some(format!("payload is not a cosign simple-signing document: {e}"));
            }
            (None, Ok(_)) => {
                let tried: Vec<&str> = self.keys.iter().map(|(n, _)| n.as_str()).collect();
                result.reason = Some(format!(
                    "no configured key verifies this signature (tried: {}){keyless_note}",
                    tried.join(", ")
                ));
            }
        }
        result
    }
}

#[async_trait]
impl Scanner for CosignScanner {
    fn name(&self) -> &'static str {
        COSIGN_SCANNER_NAME
    }

    fn version(&self) -> &'static str {
        COSIGN_SCANNER_VERSION
    }

    fn accepts(&self) -> Vec<TypeEntry> {
        vec![TypeEntry::scanned(
            media::COSIGN_SIMPLESIGNING,
            "signature",
            "Cosign signature",
            COSIGN_SCANNER_NAME,
        )]
    }

    async fn scan(&self, ctx: &ScanContext<'_>) -> Result<ScanOutput, ScanError> {
        let mut out = ScanOutput::default();
        let mut results = Vec::new();
        let mut keyless = false;
        let mut skipped = Vec::new();
        for layer in &ctx.manifest.layers {
            if layer.media_type != media::COSIGN_SIMPLESIGNING {
                skipped.push(json!({"digest": layer.digest, "media_type": layer.media_type}));
                continue;
            }
            keyless |= layer.annotations.contains_key(ANNOTATION_CERTIFICATE);
            let r = self.check_layer(ctx, layer).await?;
            if !r.signature_valid && !self.keys.is_empty() {
                let reason = r.reason.as_deref().unwrap_or("not verified");
                out.findings.push(
                    Finding::new(
                        SIG_INVALID,
                        Severity::Medium,
                        format!("Signature {} is not verified by any configured key: {reason}", r.layer),
                    )
                    .at(r.layer.clone()),
                );
            }
            results.push(r);
        }
        if results.is_empty() {
            return Err(ScanError::Invalid(format!(
                "{}: no {} layer to verify",
                ctx.reference,
                media::COSIGN_SIMPLESIGNING
            )));
        }
        let signatures = serde_json::to_value(&results).map_err(|e| ScanError::Internal(e.to_string()))?;
        out.details.insert("signatures".into(), signatures);
        out.details.insert("keyless".into(), json!(keyless));
        let keys: Vec<_> = self.keys().map(|(n, a)| json!({"name": n, "algorithm": a})).collect();
        out.details.insert("keys".into(), json!(keys));
        if !skipped.is_empty() {
            out.details.insert("skipped_layers".into(), json!(skipped));
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_simple_signing_as_a_signature() {
        let s = CosignScanner::new(CosignConfig::default()).unwrap();
        let t = s.accepts();
        assert_eq!(t.len(), 1);
        assert_eq!(t[0].media_type, media::COSIGN_SIMPLESIGNING);
        assert_eq!(t[0].kind.as_str(), "signature");
        assert_eq!(t[0].scanner.as_deref(), Some("cosign"));
    }

    #[test]
    fn bad_config_is_refused_with_the_key_named() {
        let err = CosignScanner::new(CosignConfig {
            keys: vec![KeyConfig {
                name: "release".into(),
                path: "/nonexistent/cosign.pub".into(),
            }],
            ..Default::default()
        })
        .unwrap_err()
        .to_string();
        assert!(
            err.contains("release") && err.contains("/nonexistent/cosign.pub"),
            "{err}"
        );
        let err = CosignScanner::new(CosignConfig {
            max_payload_bytes: 0,
            ..Default::default()
        })
        .unwrap_err();
        assert!(err.to_string().contains("max_payload_bytes"));
    }
}
