//! regscan's container image scanner.
//!
//! [`ImageScanner`] handles OCI and Docker images. For each image it
//!
//! 1. reads the image config (bounded) and runs the config [`checks`] (root user, secrets in the
//!    environment, remote `ADD`);
//! 2. walks each layer blob once, streaming ([`layer`]): gzip / zstd / plain tar told apart by
//!    magic bytes, only the files the package [`analyzers`] want are read, every byte and entry
//!    counted against the [`ImageConfig`] limits; per-layer [`LayerFacts`] are cached by layer
//!    digest, so a shared base layer is never opened twice;
//! 3. merges the layers in OCI order, whiteouts and opaque directories included ([`merge`]),
//!    picks the operating system and returns the package inventory (installed packages win over
//!    a lockfile's, [`lockfiles`]). Advisory matching is done
//!    by the caller on `ScanOutput.packages`.
#![forbid(unsafe_code)]

pub mod analyzers;
pub mod checks;
pub mod config;
pub mod error;
pub mod layer;
pub mod lockfiles;
pub mod merge;
pub mod scanner;
pub mod secrets;

pub use config::{ConfigError, ImageConfig};
pub use error::LayerError;
pub use layer::{walk_blob, walk_layer, LayerFacts, WalkLimits, WALKER_VERSION};
pub use scanner::{ImageScanner, SCANNER_VERSION};
