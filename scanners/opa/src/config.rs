//! The OPA scanner's configuration: size limits for unpacking bundles and the optional keys used
//! to verify a bundle's `.signatures.json`.
//!
//! The shape follows OPA's own `keys:` / `signing` configuration so an operator can copy values
//! across: keys are named by id, each with an algorithm and a key (inline or in a file), and the
//! verification block may pin a key id and an expected scope.

use std::collections::BTreeMap;
use std::path::PathBuf;

use secrecy::{ExposeSecret, SecretString};
use serde::{Deserialize, Serialize};

use crate::jws::{Algorithm, VerifyingKey};

/// Configuration of the OPA bundle scanner.
#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct OpaConfig {
    /// Size and count limits applied while reading and unpacking a bundle.
    #[serde(default)]
    pub limits: BundleLimits,
    /// Keys for checking the JWT in `.signatures.json`. Without it, the scanner still checks the
    /// signed file list and hashes, and says that the signature itself was not verified.
    #[serde(default)]
    pub verification: Option<VerificationConfig>,
}

/// Limits on what the scanner reads. Bundles are small; these stop decompression bombs and
/// archives with millions of entries.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct BundleLimits {
    /// Largest layer blob (compressed) the scanner fetches. Default 32 MiB.
    pub max_blob_bytes: u64,
    /// Largest total of unpacked file contents over all layers. Default 128 MiB.
    pub max_unpacked_bytes: u64,
    /// Largest single file inside a bundle. Default 16 MiB.
    pub max_file_bytes: u64,
    /// Most archive entries (files, directories, links) over all layers. Default 10,000.
    pub max_entries: usize,
    /// Most layers a bundle manifest may have (conftest pushes one layer per file). Default 1,000.
    pub max_layers: usize,
}

impl Default for BundleLimits {
    fn default() -> Self {
        BundleLimits {
            max_blob_bytes: 32 << 20,
            max_unpacked_bytes: 128 << 20,
            max_file_bytes: 16 << 20,
            max_entries: 10_000,
            max_layers: 1_000,
        }
    }
}

/// How `.signatures.json` is verified (OPA's bundle `signing` block plus its `keys`).
#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct VerificationConfig {
    /// Verification keys by key id (the JWT's `kid` header, or the deprecated `keyid` claim).
    pub keys: BTreeMap<String, KeyConfig>,
    /// Key id to use regardless of what the JWT names (OPA `signing.keyid`). Default: none, the
    /// JWT's `kid` header decides.
    #[serde(default)]
    pub key_id: Option<String>,
    /// Scope the JWT's `scope` claim must equal (OPA `signing.scope`); overrides the key's own
    /// `scope`. Default: none, the key's scope applies (and if neither is set, the claim must be
    /// absent or empty, as in OPA).
    #[serde(default)]
    pub scope: Option<String>,
}

/// One verification key.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct KeyConfig {
    /// JWS algorithm: `HS256`, `HS384`, `HS512`, `RS256`, `RS384`, `RS512`, `PS256`, `PS384` or
    /// `PS512`. Default `RS256` (OPA's default).
    #[serde(default = "default_algorithm")]
    pub algorithm: Algorithm,
    /// The key inline: the HMAC secret, or an RSA public key in PEM (`PUBLIC KEY` or
    /// `RSA PUBLIC KEY`). Exactly one of `key` and `key_file` must be set.
    #[serde(default, serialize_with = "expose_key")]
    pub key: Option<SecretString>,
    /// A file holding the key, read once when the scanner is built.
    #[serde(default)]
    pub key_file: Option<PathBuf>,
    /// Scope this key expects in the JWT's `scope` claim. Default: none.
    #[serde(default)]
    pub scope: Option<String>,
}

fn default_algorithm() -> Algorithm {
    Algorithm::RS256
}

/// `key` as it crosses into the sandboxed scan process (the configuration is serialised whole
/// for it); nowhere else is it written out.
fn expose_key<S: serde::Serializer>(key: &Option<SecretString>, s: S) -> Result<S::Ok, S::Error> {
    key.as_ref().map(|k| k.expose_secret()).serialize(s)
}

/// Why an [`OpaConfig`] cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// A key sets both or neither of `key` and `key_file`.
    #[error("verification key {id:?}: set exactly one of `key` and `key_file`")]
    KeySource {
        /// The key id.
        id: String,
    },
    /// A key file could not be read.
    #[error("verification key {id:?}: reading {path}: {source}")]
    KeyFile {
        /// The key id.
        id: String,
        /// The file.
        path: PathBuf,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },
    /// A key could not be parsed for its algorithm.
    #[error("verification key {id:?} ({algorithm}): {message}")]
    BadKey {
        /// The key id.
        id: String,
        /// The configured algorithm.
        algorithm: Algorithm,
        /// What is wrong with it.
        message: String,
    },
    /// `key_id` names a key that is not configured.
    #[error("verification.key_id {key_id:?} names no configured key (configured: {known})")]
    UnknownKeyId {
        /// The key id given.
        key_id: String,
        /// The configured ids.
        known: String,
    },
    /// `verification` is present but lists no keys.
    #[error("verification is configured but lists no keys")]
    NoKeys,
    /// A limit is zero.
    #[error("limits.{0} must be greater than zero")]
    ZeroLimit(&'static str),
}

/// Verification settings with the keys loaded and parsed.
#[derive(Debug, Clone)]
pub(crate) struct Verifier {
    pub keys: BTreeMap<String, VerifyingKey>,
    pub key_id: Option<String>,
    pub scope: Option<String>,
}

impl OpaConfig {
    /// Check the limits and load the verification keys.
    pub(crate) fn load(&self) -> Result<Option<Verifier>, ConfigError> {
        let l = &self.limits;
        for (name, v) in [
            ("max_blob_bytes", l.max_blob_bytes),
            ("max_unpacked_bytes", l.max_unpacked_bytes),
            ("max_file_bytes", l.max_file_bytes),
            ("max_entries", l.max_entries as u64),
            ("max_layers", l.max_layers as u64),
        ] {
            if v == 0 {
                return Err(ConfigError::ZeroLimit(name));
            }
        }
        let Some(v) = &self.verification else {
            return Ok(None);
        };
        if v.keys.is_empty() {
            return Err(ConfigError::NoKeys);
        }
        let mut keys = BTreeMap::new();
        for (id, k) in &v.keys {
            let material = match (&k.key, &k.key_file) {
                (Some(s), None) => s.expose_secret().as_bytes().to_vec(),
                (None, Some(path)) => std::fs::read(path).map_err(|source| ConfigError::KeyFile {
                    id: id.clone(),
                    path: path.clone(),
                    source,
                })?,
                _ => return Err(ConfigError::KeySource { id: id.clone() }),
            };
            let key = VerifyingKey::parse(k.algorithm, &material, k.scope.clone()).map_err(|message| {
                ConfigError::BadKey {
                    id: id.clone(),
                    algorithm: k.algorithm,
                    message,
                }
            })?;
            keys.insert(id.clone(), key);
        }
        if let Some(key_id) = &v.key_id {
            if !keys.contains_key(key_id) {
                return Err(ConfigError::UnknownKeyId {
                    key_id: key_id.clone(),
                    known: keys.keys().cloned().collect::<Vec<_>>().join(", "),
                });
            }
        }
        Ok(Some(Verifier {
            keys,
            key_id: v.key_id.clone(),
            scope: v.scope.clone(),
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_and_unknown_fields() {
        let c: OpaConfig = serde_json::from_str("{}").unwrap();
        assert_eq!(c.limits, BundleLimits::default());
        assert!(c.load().unwrap().is_none());
        let err = serde_json::from_str::<OpaConfig>(r#"{"limit":{}}"#).unwrap_err();
        assert!(err.to_string().contains("limit"), "{err}");
        let err = serde_json::from_str::<OpaConfig>(r#"{"limits":{"max_files":1}}"#).unwrap_err();
        assert!(err.to_string().contains("max_files"), "{err}");
    }

    #[test]
    fn key_source_must_be_exactly_one() {
        let c: OpaConfig = serde_json::from_str(r#"{"verification":{"keys":{"k":{"algorithm":"HS256"}}}}"#).unwrap();
        assert!(matches!(c.load(), Err(ConfigError::KeySource { .. })));
        let c: OpaConfig =
            serde_json::from_str(r#"{"verification":{"keys":{"k":{"algorithm":"HS256","key":"s"}},"key_id":"other"}}"#)
                .unwrap();
        let err = c.load().unwrap_err();
        assert!(err.to_string().contains("other"), "{err}");
    }

    #[test]
    fn bad_pem_and_missing_file_are_named() {
        let c: OpaConfig =
            serde_json::from_str(r#"{"verification":{"keys":{"k":{"algorithm":"RS256","key":"not a pem"}}}}"#).unwrap();
        let err = c.load().unwrap_err().to_string();
        assert!(err.contains("\"k\"") && err.contains("RS256"), "{err}");
        let c: OpaConfig = serde_json::from_str(
            r#"{"verification":{"keys":{"k":{"algorithm":"HS256","key_file":"/nonexistent/key"}}}}"#,
        )
        .unwrap();
        let err = c.load().unwrap_err().to_string();
        assert!(err.contains("/nonexistent/key"), "{err}");
    }

    #[test]
    fn zero_limit_rejected_and_secret_redacted() {
        let c: OpaConfig = serde_json::from_str(r#"{"limits":{"max_entries":0}}"#).unwrap();
        assert!(c.load().unwrap_err().to_string().contains("max_entries"));
        let c: OpaConfig =
            serde_json::from_str(r#"{"verification":{"keys":{"k":{"algorithm":"HS256","key":"hunter2"}}}}"#).unwrap();
        assert!(!format!("{c:?}").contains("hunter2"), "Debug is redacted");
        let again: OpaConfig = serde_json::from_value(serde_json::to_value(&c).unwrap()).unwrap();
        let key = again.verification.unwrap().keys["k"].key.clone().unwrap();
        assert_eq!(key.expose_secret(), "hunter2", "the key reaches the sandboxed scan");
    }
}
