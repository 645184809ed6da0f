//! The answers of the cross-artifact queries, as the API serialises them (and the CLI's
//! `--server` mode reads them back).

use regscan_scanner_api::{Severity, Summary};
use serde::{Deserialize, Serialize};

/// One stored artifact in an answer.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ArtifactRef {
    /// `registry/repository@digest`.
    pub reference: String,
    /// Manifest digest.
    pub digest: String,
    /// Registry host.
    pub registry: String,
    /// Repository.
    pub repository: String,
    /// Kind.
    pub kind: String,
    /// The index it belongs to, for a platform image of a multi-platform index.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub parent_digest: Option<String>,
    /// Platform, for children of an index.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub platform: Option<String>,
}

/// An artifact an advisory affects, with the versions involved.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AffectedArtifact {
    /// The artifact.
    #[serde(flatten)]
    pub artifact: ArtifactRef,
    /// Installed version (the first, when the package is installed more than once).
    pub installed_version: Option<String>,
    /// Version that fixes it, if any.
    pub fixed_version: Option<String>,
    /// Every place it was found: path, installed and fixed version.
    pub locations: Vec<FindingLocation>,
}

/// One finding row of an affected artifact.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FindingLocation {
    /// File that declared the package.
    pub location: Option<String>,
    /// Installed version.
    pub installed_version: Option<String>,
    /// Fixed version.
    pub fixed_version: Option<String>,
}

/// An advisory (for one package) and the artifacts it affects.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct VulnItem {
    /// Advisory id as stored in findings.
    pub id: String,
    /// Highest severity among its findings.
    pub severity: Severity,
    /// Package it is about (null for findings not about a package).
    pub package: Option<String>,
    /// Title.
    pub title: String,
    /// Other ids of the same vulnerability (from the stored advisory).
    #[serde(default)]
    pub aliases: Vec<String>,
    /// Highest CVSS base score of the stored advisory, if it has one.
    #[serde(default)]
    pub cvss: Option<f64>,
    /// The artifacts, in the order of their scans (oldest first).
    pub artifacts: Vec<AffectedArtifact>,
}

/// A page of [`VulnItem`]s.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct VulnPage {
    /// Advisories ordered by id, then package.
    pub items: Vec<VulnItem>,
    /// Pass as `before` for the next page; null on the last page.
    pub next_cursor: Option<String>,
}

/// Where a package was found in one artifact.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PackageLocation {
    /// File that declared it.
    pub path: String,
    /// Layer digest it came from, when known.
    pub layer: Option<String>,
}

/// An artifact a package is installed in.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PackageArtifact {
    /// The artifact.
    #[serde(flatten)]
    pub artifact: ArtifactRef,
    /// File that declared it (the first, when it is installed more than once).
    pub path: Option<String>,
    /// Layer of that file, when known.
    pub layer: Option<String>,
    /// Every place it was found.
    pub locations: Vec<PackageLocation>,
}

/// A package version and the artifacts holding it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PackageItem {
    /// Name.
    pub name: String,
    /// Version.
    pub version: String,
    /// Ecosystem.
    pub ecosystem: String,
    /// Package URL.
    pub purl: String,
    /// Source package name, for OS packages built from another.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source_name: Option<String>,
    /// The artifacts, in the order of their scans (oldest first).
    pub artifacts: Vec<PackageArtifact>,
}

/// A page of [`PackageItem`]s.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PackagePage {
    /// Packages ordered by ecosystem, name, version.
    pub items: Vec<PackageItem>,
    /// Pass as `before` for the next page; null on the last page.
    pub next_cursor: Option<String>,
}

/// An artifact with its findings per severity (summary's most dangerous list).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DangerousArtifact {
    /// The artifact.
    #[serde(flatten)]
    pub artifact: ArtifactRef,
    /// Findings per severity of its latest scan.
    pub summary: Summary,
}

/// An advisory with the number of artifacts it affects (summary's top list).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TopVuln {
    /// Advisory id.
    pub id: String,
    /// Highest severity among its findings.
    pub severity: Severity,
    /// Live artifacts it affects now.
    pub artifacts: i64,
}

/// Findings about packages in the latest scans, split by whether a fixed version exists.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct FixableSplit {
    /// Findings with a fixed version.
    pub fixable: i64,
    /// Findings without one.
    pub unfixable: i64,
    /// Live artifacts with at least one fixable finding.
    pub fixable_artifacts: i64,
}
