//! The regscan scanner plugin interface.
//!
//! This crate holds the domain vocabulary every other part of regscan speaks, and nothing that
//! performs I/O:
//!
//! - [`identity`]: [`Digest`], [`ArtifactRef`] and [`ScannerRef`], parsed once at the edge;
//! - [`manifest`]: lenient serde types for OCI / Docker manifests, indexes and descriptors;
//! - [`media`]: the media type constants regscan knows by name;
//! - [`report`]: kinds, statuses, severities, findings and packages, as they appear in the
//!   report JSON of `SPEC.md`;
//! - [`types`]: the artifact type table and the pure function that resolves a manifest to a type;
//! - [`scanner`]: the [`Scanner`] trait a plugin implements, and the context it is handed.
#![forbid(unsafe_code)]

pub mod identity;
pub mod manifest;
pub mod media;
pub mod report;
pub mod scanner;
#[cfg(feature = "testing")]
pub mod testing;
pub mod types;

pub use identity::{ArtifactRef, Digest, DigestError, ScannerRef};
pub use manifest::{Descriptor, ImageIndex, ImageManifest, ManifestDoc, Platform};
pub use report::{Finding, Kind, OtherKind, Package, Severity, Status, Summary, UnknownValue};
pub use scanner::{BlobError, BlobReader, BlobSource, Limits, ScanCache, ScanContext, ScanError, ScanOutput, Scanner};
pub use types::{Resolution, TypeEntry, TypeTable};
