//! `[signatures]`: the public keys cosign signatures are verified with, and whether images must
//! be signed.
//!
//! ```toml
//! [signatures]
//! required = false
//!
//! [[signatures.keys]]
//! name = "release"
//! path = "/etc/regscan/cosign.pub"
//! ```
//!
//! The keys are handed to the `cosign` scanner: [`super::Config::load`] copies them into
//! `ScannersConfig::cosign` (which is what the sandboxed scan process receives), with relative
//! paths made absolute against the directory regscan was started in (the sandboxed process runs
//! elsewhere).

use std::path::PathBuf;

use regscan_scanner_cosign::KeyConfig;
use serde::{Deserialize, Serialize};

use super::{Config, ConfigError};

/// `[signatures]`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct SignaturesConfig {
    /// Public keys (`[[signatures.keys]]`: `name`, `path` to a PEM public key, ECDSA P-256,
    /// Ed25519 or RSA). Default: none, signatures are listed but not verified.
    pub keys: Vec<KeyConfig>,
    /// Whether an image that no configured key has signed gets a `SIG-UNSIGNED` (high) finding.
    /// Default false.
    pub required: bool,
}

impl Config {
    /// Hand `[[signatures.keys]]` to the cosign scanner's settings. Keys set under
    /// `[scanners.cosign]` are refused: `[[signatures.keys]]` is their one place.
    pub(super) fn apply_signatures(&mut self) -> Result<(), ConfigError> {
        if !self.scanners.cosign.keys.is_empty() {
            return Err(ConfigError::Invalid(
                "scanners.cosign.keys: signature keys are configured as [[signatures.keys]] (name, path), not under [scanners.cosign]".into(),
            ));
        }
        let mut keys = Vec::with_capacity(self.signatures.keys.len());
        for (i, k) in self.signatures.keys.iter().enumerate() {
            if k.name.trim().is_empty() {
                return Err(ConfigError::Invalid(format!(
                    "signatures.keys #{}: name must not be empty",
                    i + 1
                )));
            }
            if keys.iter().any(|o: &KeyConfig| o.name == k.name) {
                return Err(ConfigError::Invalid(format!(
                    "signatures.keys #{}: name {:?} is used twice",
                    i + 1,
                    k.name
                )));
            }
            let path: PathBuf = std::path::absolute(&k.path).map_err(|e| {
                ConfigError::Invalid(format!("signatures.keys {:?}: path {}: {e}", k.name, k.path.display()))
            })?;
            keys.push(KeyConfig {
                name: k.name.clone(),
                path,
            });
        }
        self.scanners.cosign.keys = keys;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use super::*;

    use crate::config::load_text as load;

    #[test]
    fn keys_reach_the_cosign_scanner_and_survive_the_trip_to_the_sandbox() {
        let c = load(
            "[signatures]\nrequired = true\n[[signatures.keys]]\nname = \"release\"\npath = \"/etc/regscan/cosign.pub\"\n[[signatures.keys]]\nname = \"rel\"\npath = \"keys/ci.pub\"\n",
        )
        .unwrap();
        assert!(c.signatures.required);
        let keys = &c.scanners.cosign.keys;
        assert_eq!(keys.len(), 2);
        assert_eq!(
            (keys[0].name.as_str(), keys[0].path.as_path()),
            ("release", Path::new("/etc/regscan/cosign.pub"))
        );
        assert!(
            keys[1].path.is_absolute() && keys[1].path.ends_with("keys/ci.pub"),
            "{keys:?}"
        );
        // What the sandboxed process receives and rebuilds.
        let json = serde_json::to_value(&c.scanners).unwrap();
        let back: super::super::ScannersConfig = serde_json::from_value(json).unwrap();
        assert_eq!(back.cosign, c.scanners.cosign);
    }

    #[test]
    fn defaults_and_misplaced_or_bad_keys_are_refused() {
        let c = load("").unwrap();
        assert_eq!(c.signatures, SignaturesConfig::default());
        assert!(!c.signatures.required && c.scanners.cosign.keys.is_empty());
        let err = load("[scanners.cosign]\nkeys = [{name = \"k\", path = \"/k.pub\"}]\n")
            .unwrap_err()
            .to_string();
        assert!(err.contains("[[signatures.keys]]"), "{err}");
        let c = load("[scanners.cosign]\nmax_payload_bytes = 1024\n").unwrap();
        assert_eq!(c.scanners.cosign.max_payload_bytes, 1024);
        let err = load(
            "[[signatures.keys]]\nname = \"a\"\npath = \"/a\"\n[[signatures.keys]]\nname = \"a\"\npath = \"/b\"\n",
        )
        .unwrap_err()
        .to_string();
        assert!(err.contains("used twice"), "{err}");
        let err = load("[[signatures.keys]]\nname = \"a\"\n").unwrap_err().to_string();
        assert!(err.contains("path"), "{err}");
        let err = load("[signatures]\nrequire = true\n").unwrap_err().to_string();
        assert!(err.contains("require"), "{err}");
    }
}
