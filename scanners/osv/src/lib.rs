//! `regscan-osv`: OSV advisories for regscan — the record model, per-ecosystem version
//! ordering, and matching of installed packages against advisories.
//!
//! The crate is pure: no network, no database. The regscan binary stores raw OSV JSON, loads
//! it, and calls:
//!
//! - [`parse_advisory`], [`stream_zip`], [`stream_dir`] (one record at a time), [`read_zip`],
//!   [`read_dir`]: load records (bounded by [`ImportLimits`]);
//! - [`AdvisoryIndex`]: an in-memory index keyed by normalised (ecosystem, package name), whose
//!   [`AdvisoryIndex::match_packages`] turns installed packages into report findings;
//! - [`prepare_advisory`], [`EntrySource`], [`match_packages_in`]: the same matching over
//!   entries a caller looked up elsewhere (regscan fetches a scan's keys from its database);
//! - [`compare_versions`], [`normalize_ecosystem`], [`normalize_name`], [`severity_of`]: the
//!   building blocks, public for the importer and for tests.
//!
//! Modules: [`model`] (serde types), [`import`] (zip and directory readers), [`ecosystem`]
//! (names and ecosystems), [`version`] (orderings), [`matching`] (the index and the schema's
//! evaluation algorithm), [`severity`] (CVSS and severity words).
#![forbid(unsafe_code)]

pub mod ecosystem;
pub mod import;
pub mod matching;
pub mod model;
pub mod severity;
pub mod streams;
pub mod version;

pub use ecosystem::{normalize_ecosystem, normalize_name};
pub use import::{id_of_entry_name, read_dir, read_zip, stream_dir, stream_zip, zip_member, ImportLimits, StreamStats};
pub use matching::{
    match_package_in, match_packages_in, order_findings, prepare_advisory, AdvisoryIndex, EntrySource, Key,
    PreparedEntry,
};
pub use model::{parse_advisory, Advisory, Affected, AffectedPackage, Event, Range, Reference, SeverityScore};
pub use severity::severity_of;
pub use version::compare_versions;

/// Why advisories could not be read.
#[derive(Debug, thiserror::Error)]
pub enum OsvError {
    /// The bytes are not JSON of the OSV record shape; the message names the position and field.
    #[error("not a valid OSV record: {source}")]
    Json {
        /// The JSON error (line, column and the field or type that did not fit).
        #[source]
        source: serde_json::Error,
    },
    /// The record parsed but breaks a rule matching depends on.
    #[error("OSV record {id:?} is unusable: {problem}")]
    Invalid {
        /// The record id (may be empty when that is the problem).
        id: String,
        /// What is wrong.
        problem: String,
    },
    /// The zip archive could not be read.
    #[error("cannot read OSV zip archive: {source}")]
    Zip {
        /// The zip error.
        #[source]
        source: zip::result::ZipError,
    },
    /// A file or directory could not be read.
    #[error("cannot read {path}: {source}")]
    Io {
        /// The path (or zip entry name) being read.
        path: String,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },
    /// An import limit was exceeded; raise it in [`ImportLimits`] if the source is trusted.
    #[error("{what} exceeds the import limit of {limit} ({detail})")]
    Limit {
        /// Which limit (`entry count`, `entry size`, `total size`).
        what: &'static str,
        /// The limit.
        limit: u64,
        /// Where it was exceeded (an entry name or a count).
        detail: String,
    },
}
