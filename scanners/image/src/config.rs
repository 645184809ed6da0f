//! The image scanner's configuration: safety limits for layer walking and which image-config
//! checks run. Every field has a documented default, so `ImageConfig::default()` (or an empty
//! TOML table) is a sound production setting.

use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::checks;

const GIB: u64 = 1 << 30;
const MIB: u64 = 1 << 20;

/// Configuration of [`ImageScanner`](crate::ImageScanner).
///
/// Limits guard against decompression bombs and hostile archives; exceeding any of them fails
/// the scan with `ScanError::Limit`, naming the limit and the layer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ImageConfig {
    /// Most uncompressed bytes (the tar stream) one layer may expand to. Default 8 GiB.
    pub max_layer_bytes: u64,
    /// Most uncompressed bytes all layers of one image may expand to together (cached layers
    /// count with their recorded size). Default 32 GiB.
    pub max_image_bytes: u64,
    /// Most tar entries (files, directories, links, metadata headers) in one layer.
    /// Default 1,000,000.
    pub max_layer_entries: u64,
    /// Largest compressed layer blob the scanner opens. Default 8 GiB.
    pub max_layer_blob_bytes: u64,
    /// Most layers in one image. Default 500.
    pub max_layers: usize,
    /// Largest image config blob the scanner reads. Default 4 MiB.
    pub max_config_bytes: u64,
    /// Wall-clock time for scanning one image, in seconds. Default 1800.
    pub timeout_secs: u64,
    /// Image-config check ids not to run (e.g. `["IMG-ROOT-USER"]`). Default: none.
    pub skip_checks: Vec<String>,
}

impl Default for ImageConfig {
    fn default() -> Self {
        ImageConfig {
            max_layer_bytes: 8 * GIB,
            max_image_bytes: 32 * GIB,
            max_layer_entries: 1_000_000,
            max_layer_blob_bytes: 8 * GIB,
            max_layers: 500,
            max_config_bytes: 4 * MIB,
            timeout_secs: 1800,
            skip_checks: Vec::new(),
        }
    }
}

/// A configuration value that cannot work.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum ConfigError {
    /// A limit is zero.
    #[error("image scanner setting {field} must be greater than zero")]
    Zero {
        /// The field name.
        field: &'static str,
    },
    /// `skip_checks` names a check that does not exist.
    #[error("image scanner setting skip_checks names unknown check {id:?} (known: {known})")]
    UnknownCheck {
        /// The id given.
        id: String,
        /// The ids that exist.
        known: String,
    },
}

impl ImageConfig {
    /// Check the values; call once when loading configuration.
    pub fn validate(&self) -> Result<(), ConfigError> {
        let limits = [
            ("max_layer_bytes", self.max_layer_bytes),
            ("max_image_bytes", self.max_image_bytes),
            ("max_layer_entries", self.max_layer_entries),
            ("max_layer_blob_bytes", self.max_layer_blob_bytes),
            ("max_layers", self.max_layers as u64),
            ("max_config_bytes", self.max_config_bytes),
            ("timeout_secs", self.timeout_secs),
        ];
        if let Some((field, _)) = limits.iter().find(|(_, v)| *v == 0) {
            return Err(ConfigError::Zero { field });
        }
        for id in &self.skip_checks {
            if !checks::CHECK_IDS.contains(&id.as_str()) {
                return Err(ConfigError::UnknownCheck {
                    id: id.clone(),
                    known: checks::CHECK_IDS.join(", "),
                });
            }
        }
        Ok(())
    }

    /// The scan timeout as a [`Duration`].
    pub fn timeout(&self) -> Duration {
        Duration::from_secs(self.timeout_secs)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_valid_and_documented_values() {
        let c = ImageConfig::default();
        c.validate().unwrap();
        assert_eq!(c.max_layer_bytes, 8 << 30);
        assert_eq!(c.max_layer_entries, 1_000_000);
        assert_eq!(c.max_config_bytes, 4 << 20);
    }

    #[test]
    fn empty_json_gives_defaults_and_unknown_fields_are_rejected() {
        let c: ImageConfig = serde_json::from_str("{}").unwrap();
        assert_eq!(c, ImageConfig::default());
        let err = serde_json::from_str::<ImageConfig>(r#"{"max_layer_byte": 1}"#).unwrap_err();
        assert!(err.to_string().contains("max_layer_byte"), "{err}");
    }

    #[test]
    fn zero_limits_and_unknown_checks_are_rejected() {
        let c = ImageConfig {
            max_layer_entries: 0,
            ..Default::default()
        };
        assert_eq!(
            c.validate(),
            Err(ConfigError::Zero {
                field: "max_layer_entries"
            })
        );
        let c = ImageConfig {
            skip_checks: vec!["IMG-NOPE".into()],
            ..Default::default()
        };
        let err = c.validate().unwrap_err().to_string();
        assert!(err.contains("IMG-NOPE") && err.contains("IMG-ROOT-USER"), "{err}");
        let c = ImageConfig {
            skip_checks: vec!["IMG-ROOT-USER".into()],
            ..Default::default()
        };
        c.validate().unwrap();
    }
}
