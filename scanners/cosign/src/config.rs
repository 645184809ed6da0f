//! The cosign scanner's configuration: the public keys signatures are verified with, and the size
//! limit on a simple-signing payload.
//!
//! In the regscan configuration file the keys are the top-level `[[signatures.keys]]` table
//! (`name`, `path`); regscan copies them here. The struct round-trips through `serde_json`
//! because it is handed to the sandboxed process that builds the scanners.

use std::path::PathBuf;

use serde::{Deserialize, Serialize};

/// Configuration of the cosign signature scanner.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct CosignConfig {
    /// Public keys signatures are verified with, tried in order. Default: none (signatures are
    /// reported, never verified).
    pub keys: Vec<KeyConfig>,
    /// Largest simple-signing payload layer the scanner reads. Default 64 KiB (cosign's payloads
    /// are a few hundred bytes).
    pub max_payload_bytes: u64,
}

impl Default for CosignConfig {
    fn default() -> Self {
        CosignConfig {
            keys: Vec::new(),
            max_payload_bytes: DEFAULT_MAX_PAYLOAD_BYTES,
        }
    }
}

/// Default of [`CosignConfig::max_payload_bytes`]: 64 KiB.
pub const DEFAULT_MAX_PAYLOAD_BYTES: u64 = 64 << 10;

/// One verification key.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct KeyConfig {
    /// The key's name, reported as the `key` that verified a signature. Required, unique.
    pub name: String,
    /// A PEM file holding the public key: `PUBLIC KEY` (SubjectPublicKeyInfo: ECDSA P-256,
    /// Ed25519 or RSA, as `cosign generate-key-pair` writes `cosign.pub`) or `RSA PUBLIC KEY`
    /// (PKCS#1). Required; read once, when the scanner is built.
    pub path: PathBuf,
}

/// Why a [`CosignConfig`] cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// A key file could not be read.
    #[error("signature key {name:?}: reading {path}: {source}")]
    KeyFile {
        /// The key's name.
        name: String,
        /// The file.
        path: PathBuf,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },
    /// A key file does not hold a supported public key.
    #[error("signature key {name:?} ({path}): {message}")]
    BadKey {
        /// The key's name.
        name: String,
        /// The file.
        path: PathBuf,
        /// What is wrong with it.
        message: String,
    },
    /// A key has an empty name, or a name used by another key.
    #[error("signature key name {name:?} ({path}) is {problem}; every key needs a unique, non-empty name")]
    BadName {
        /// The name.
        name: String,
        /// The key's file.
        path: PathBuf,
        /// `empty` or `used twice`.
        problem: &'static str,
    },
    /// `max_payload_bytes` is zero.
    #[error("scanners.cosign.max_payload_bytes must be greater than zero")]
    ZeroLimit,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_unknown_fields_and_json_round_trip() {
        let c: CosignConfig = serde_json::from_str("{}").unwrap();
        assert_eq!(c, CosignConfig::default());
        assert_eq!(c.max_payload_bytes, 65536);
        let err = serde_json::from_str::<CosignConfig>(r#"{"key":[]}"#).unwrap_err();
        assert!(err.to_string().contains("key"), "{err}");
        let err = serde_json::from_str::<CosignConfig>(r#"{"keys":[{"name":"a","path":"/p","alg":"x"}]}"#).unwrap_err();
        assert!(err.to_string().contains("alg"), "{err}");
        let c = CosignConfig {
            keys: vec![KeyConfig {
                name: "release".into(),
                path: "/etc/regscan/cosign.pub".into(),
            }],
            max_payload_bytes: 1000,
        };
        let back: CosignConfig = serde_json::from_str(&serde_json::to_string(&c).unwrap()).unwrap();
        assert_eq!(back, c);
    }
}
