//! Errors of the image scanner's own steps, and how they map onto the plugin interface's
//! [`ScanError`] (which decides whether the queue retries).

use regscan_scanner_api::ScanError;

/// Why a layer could not be walked.
#[derive(Debug, thiserror::Error)]
pub enum LayerError {
    /// A safety limit was hit (decompression bomb, too many entries, oversized header).
    #[error("layer {layer} {message}")]
    Limit {
        /// Layer digest.
        layer: String,
        /// Which limit, in words, naming the setting.
        message: String,
    },
    /// Reading the blob failed (network, digest mismatch found by the blob source).
    #[error("reading layer {layer}: {source}")]
    Read {
        /// Layer digest.
        layer: String,
        /// The blob source's error.
        #[source]
        source: std::io::Error,
    },
    /// The layer is not a valid (compressed) tar stream.
    #[error("layer {layer} is not a valid layer archive: {message}")]
    Invalid {
        /// Layer digest.
        layer: String,
        /// What is wrong.
        message: String,
    },
    /// The scan was dropped (timeout) while this layer was being read.
    #[error("walking layer {layer} was cancelled")]
    Cancelled {
        /// Layer digest.
        layer: String,
    },
    /// The blocking task failed unexpectedly.
    #[error("walking layer {layer} failed: {message}")]
    Internal {
        /// Layer digest.
        layer: String,
        /// The join error.
        message: String,
    },
}

impl From<LayerError> for ScanError {
    fn from(e: LayerError) -> Self {
        match e {
            LayerError::Limit { .. } => ScanError::Limit(e.to_string()),
            LayerError::Read { layer, source } => ScanError::Io {
                what: format!("layer {layer}"),
                source,
            },
            LayerError::Invalid { .. } => ScanError::Invalid(e.to_string()),
            LayerError::Cancelled { .. } | LayerError::Internal { .. } => ScanError::Internal(e.to_string()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mapping_keeps_the_class_and_the_layer() {
        let e: ScanError = LayerError::Limit {
            layer: "sha256:ab".into(),
            message: "has more than 3 tar entries".into(),
        }
        .into();
        assert!(
            matches!(&e, ScanError::Limit(m) if m.contains("sha256:ab") && m.contains("3 tar entries")),
            "{e}"
        );
        let source = std::io::Error::new(std::io::ErrorKind::InvalidData, "digest mismatch");
        let e: ScanError = LayerError::Read {
            layer: "sha256:cd".into(),
            source,
        }
        .into();
        assert!(matches!(&e, ScanError::Io { what, .. } if what == "layer sha256:cd"));
        assert!(!e.is_retryable(), "a digest mismatch is not retried");
        let e: ScanError = LayerError::Invalid {
            layer: "sha256:ef".into(),
            message: "bad".into(),
        }
        .into();
        assert!(matches!(e, ScanError::Invalid(_)));
    }
}
